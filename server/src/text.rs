//! Plain-text renderings of the playbook's results for the command line.
//!
//! The JSON output is the results' own serde form; these functions are what a person reads in
//! a terminal: short lines with ✓/✗ marks, money in units, dates as the agent writes them.
//! [`print_stdout`] prints them: a reader that went away (`doorstep … | head -1`) ends the
//! output quietly instead of panicking as `println!` does.

use chrono::NaiveDate;
use client_core::playbook::{
    DailyCount, PeriodProgress, PolicyLine, PostcodeGroup, Reminder, Standing, TodayStatus, Urgency,
};

/// Writes `text` and a newline to stdout; a closed pipe is not an error (the reader has what
/// it wanted), any other write error is.
pub fn print_stdout(text: &str) -> crate::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(crate::Error::Io {
            path: "stdout".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

fn count(c: &DailyCount) -> String {
    format!("{}/{} {}", c.actual, c.target, mark(c.met))
}

/// Money in minor units, as units with two decimals.
pub fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

/// Today's standards.
pub fn today(t: &TodayStatus) -> String {
    let mut s = format!(
        "{} on {}{}\n",
        t.agent,
        t.date,
        if t.working_day {
            ""
        } else {
            " (not a working day)"
        }
    );
    s.push_str(&format!(
        "  311     effective visits {}   work log {}   evening report {}   → {}\n",
        count(&t.effective_visits),
        mark(t.work_log),
        mark(t.evening_report),
        if t.met_311 { "met" } else { "not met" }
    ));
    s.push_str(&format!(
        "  10-3-1  calls {}   meetings {}   results {}   → {}\n",
        count(&t.calls),
        count(&t.meetings),
        count(&t.results),
        if t.met_10_3_1 { "met" } else { "not met" }
    ));
    let k = &t.seven_things;
    s.push_str(&format!(
        "  today   reminders {}  customers in play {}  SMS {}  payment reminders {}  visits: collection {} service {} sales {}",
        k.reminders,
        k.in_play_customers,
        k.sms_sent,
        k.payment_reminders,
        k.collection_visits,
        k.service_visits,
        k.sales_visits
    ));
    for p in &t.targets {
        s.push_str(&format!(
            "\n  {} {}: {}/{}",
            mark(p.met),
            p.label,
            p.actual,
            p.target
        ));
    }
    s
}

/// Progress over a week or a month.
pub fn progress(p: &PeriodProgress) -> String {
    let mut s = match p.week {
        Some(w) => format!("{}: week {w}, {} to {}", p.agent, p.from, p.to),
        None => format!("{}: month to date, {} to {}", p.agent, p.from, p.to),
    };
    for t in &p.targets {
        if t.standing == Standing::NotApplicable {
            // A rate over nothing: neither met nor missed.
            s.push_str(&format!(
                "\n  – {:<50}    n/a / {:<6.1} (nothing to count)",
                t.label, t.target
            ));
            continue;
        }
        s.push_str(&format!(
            "\n  {} {:<50} {:>6.1} / {:<6.1} ({:.0}%)",
            mark(t.met),
            t.label,
            t.actual,
            t.target,
            t.percent
        ));
    }
    if p.targets.is_empty() {
        s.push_str("\n  (the playbook sets no target for this period)");
    }
    s
}

/// One reminder.
pub fn reminder(r: &Reminder) -> String {
    format!("{}  {:<16} {}", r.due, r.customer_name, r.message)
}

/// The day's reminders under one heading per urgency (they come most urgent first).
pub fn reminders(rs: &[Reminder], date: NaiveDate) -> String {
    let mut s = format!("{} reminder(s) for {date}", rs.len());
    let mut heading = None;
    for r in rs {
        if heading != Some(r.urgency) {
            heading = Some(r.urgency);
            let name = match r.urgency {
                Urgency::Overdue => "overdue",
                Urgency::Today => "today",
                Urgency::ThisWeek => "this week",
                Urgency::Later => "later",
            };
            s.push_str(&format!("\n {name}:"));
        }
        s.push_str(&format!("\n  {}", reminder(r)));
    }
    s
}

fn policy(p: &PolicyLine) -> String {
    format!(
        "{} {} due {} ({}, {})",
        p.number,
        money(p.premium_cents),
        p.due_date,
        p.phase.code(),
        p.status.code()
    )
}

/// One postcode's lists.
pub fn group(g: &PostcodeGroup) -> String {
    let mut s = format!("postcode {}\n", g.postcode.as_deref().unwrap_or("(none)"));
    let lists = [
        ("in play", &g.in_play),
        ("large premiums", &g.large_premiums),
        ("riders", &g.riders),
        ("difficult", &g.difficult),
        ("exited", &g.exited),
        ("dead", &g.dead),
        ("orphan", &g.orphan),
    ];
    for (name, entries) in lists {
        if entries.is_empty() {
            continue;
        }
        s.push_str(&format!("  {name}:\n"));
        for e in entries {
            let lines: Vec<String> = e.policies.iter().map(policy).collect();
            s.push_str(&format!(
                "    {} {} — {}\n",
                e.name,
                e.phones.join(", "),
                lines.join("; ")
            ));
        }
    }
    for h in &g.households {
        s.push_str(&format!(
            "  household ({:?} {}): {} policies\n",
            h.by,
            h.name,
            h.policies.len()
        ));
    }
    s
}
