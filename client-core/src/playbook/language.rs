//! The languages a playbook's labels come in, and the playbook as a screen in one language
//! reads it.
//!
//! Teams in China write their playbook in Chinese: every `label` (and the `title`) is the
//! primary, Chinese text. A file may add `label_en` (and `title_en`) beside it for English
//! screens; a file without them still loads and English screens show the primary label, so
//! every playbook written before labels were bilingual (and every playbook a phone has stored)
//! keeps working. Codes never change with the language: records store codes, screens show
//! labels.

use serde::{Deserialize, Serialize};

use super::{Calendar, Playbook};

/// A language screens are shown in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Language {
    /// Simplified Chinese (`zh-CN`): the playbooks' primary labels.
    #[default]
    #[serde(rename = "zh-CN")]
    Chinese,
    /// English (`en`): `label_en` where the playbook gives one.
    #[serde(rename = "en")]
    English,
}

impl Language {
    /// The BCP 47 tag (`zh-CN`, `en`).
    pub fn tag(self) -> &'static str {
        match self {
            Language::Chinese => "zh-CN",
            Language::English => "en",
        }
    }

    /// The language of a tag such as `zh`, `zh-CN`, `zh-Hans`, `en`, `en-US` (any case), or
    /// none for a language we have no screens in.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Language::Chinese),
            "en" => Some(Language::English),
            _ => None,
        }
    }

    /// The best language of an `Accept-Language` header (`en-US,en;q=0.9,zh;q=0.8`): the
    /// supported language with the highest weight, the first listed on a tie; none when the
    /// header names no supported language.
    pub fn from_accept_language(header: &str) -> Option<Language> {
        let mut best: Option<(f32, Language)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Language::from_tag) else {
                continue;
            };
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map(|(_, l)| l)
    }
}

fn pick(primary: &mut String, english: &Option<String>) {
    if let Some(e) = english.as_ref().filter(|e| !e.trim().is_empty()) {
        primary.clone_from(e);
    }
}

fn pick_opt(primary: &mut Option<String>, english: &Option<String>) {
    if let Some(e) = english.as_ref().filter(|e| !e.trim().is_empty()) {
        *primary = Some(e.clone());
    }
}

impl Playbook {
    /// The playbook as screens in `lang` read it: for English, every label (and the title)
    /// that has an English text in the file is replaced by it; the rest, and every code and
    /// number, is unchanged, so the computations count the same in both languages.
    pub fn in_language(&self, lang: Language) -> Playbook {
        let mut pb = self.clone();
        if lang == Language::Chinese {
            return pb;
        }
        pick(&mut pb.title, &pb.title_en);
        for g in &mut pb.grades {
            pick(&mut g.label, &g.label_en);
        }
        for k in &mut pb.visit_kinds {
            pick(&mut k.label, &k.label_en);
        }
        for p in &mut pb.purposes {
            pick(&mut p.label, &p.label_en);
        }
        for p in &mut pb.contact_purposes {
            pick(&mut p.label, &p.label_en);
        }
        for o in &mut pb.outcomes {
            pick(&mut o.label, &o.label_en);
        }
        for t in &mut pb.targets {
            pick_opt(&mut t.label, &t.label_en);
        }
        for r in &mut pb.team.ratios {
            pick_opt(&mut r.label, &r.label_en);
        }
        for t in &mut pb.sms.templates {
            pick(&mut t.label, &t.label_en);
        }
        match &mut pb.calendar {
            Calendar::Monthly(m) => {
                let t = &mut m.phases;
                for p in [
                    &mut t.cross,
                    &mut t.receivable,
                    &mut t.due,
                    &mut t.transition,
                    &mut t.final_month,
                    &mut t.received,
                ] {
                    pick(&mut p.label, &p.label_en);
                }
            }
            Calendar::Cadence(c) => {
                for s in &mut c.steps {
                    pick(&mut s.label, &s.label_en);
                }
            }
            Calendar::None => {}
        }
        pb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::Phase;

    #[test]
    fn tags_and_accept_language_pick_the_language() {
        let cases: &[(&str, Option<Language>)] = &[
            ("zh-CN", Some(Language::Chinese)),
            ("zh_Hans", Some(Language::Chinese)),
            ("ZH", Some(Language::Chinese)),
            ("en-US", Some(Language::English)),
            ("fr", None),
            ("", None),
        ];
        for (tag, want) in cases {
            assert_eq!(Language::from_tag(tag), *want, "{tag}");
        }
        let headers: &[(&str, Option<Language>)] = &[
            ("zh-CN,zh;q=0.9,en;q=0.8", Some(Language::Chinese)),
            ("en-US,en;q=0.9,zh-CN;q=0.8", Some(Language::English)),
            ("fr-FR, en;q=0.5, zh;q=0.7", Some(Language::Chinese)),
            ("fr-FR, de", None),
            ("en;q=0, zh;q=0.1", Some(Language::Chinese)),
            ("*", None),
        ];
        for (h, want) in headers {
            assert_eq!(Language::from_accept_language(h), *want, "{h}");
        }
    }

    #[test]
    fn every_shipped_playbook_has_an_english_label_for_every_chinese_one() {
        for (name, text) in [
            (
                "insurance",
                include_str!("../../../docs/playbooks/insurance.toml"),
            ),
            (
                "car-insurance",
                include_str!("../../../docs/playbooks/car-insurance.toml"),
            ),
            (
                "home-improvement",
                include_str!("../../../docs/playbooks/home-improvement.toml"),
            ),
        ] {
            let zh = Playbook::from_toml_str(name, text).unwrap();
            let en = zh.in_language(Language::English);
            assert_eq!(zh.in_language(Language::Chinese), zh);
            assert!(zh.title_en.is_some(), "{name}: title_en");
            let mut labels = vec![(zh.title.clone(), en.title.clone())];
            let pairs = |a: Vec<String>, b: Vec<String>| a.into_iter().zip(b).collect::<Vec<_>>();
            labels.extend(pairs(
                zh.grades.iter().map(|g| g.label.clone()).collect(),
                en.grades.iter().map(|g| g.label.clone()).collect(),
            ));
            labels.extend(pairs(
                zh.visit_kinds.iter().map(|g| g.label.clone()).collect(),
                en.visit_kinds.iter().map(|g| g.label.clone()).collect(),
            ));
            labels.extend(pairs(
                zh.purposes.iter().map(|g| g.label.clone()).collect(),
                en.purposes.iter().map(|g| g.label.clone()).collect(),
            ));
            labels.extend(pairs(
                zh.contact_purposes
                    .iter()
                    .map(|g| g.label.clone())
                    .collect(),
                en.contact_purposes
                    .iter()
                    .map(|g| g.label.clone())
                    .collect(),
            ));
            labels.extend(pairs(
                zh.outcomes.iter().map(|g| g.label.clone()).collect(),
                en.outcomes.iter().map(|g| g.label.clone()).collect(),
            ));
            labels.extend(pairs(
                zh.targets.iter().map(|t| t.label()).collect(),
                en.targets.iter().map(|t| t.label()).collect(),
            ));
            labels.extend(pairs(
                zh.team
                    .ratios
                    .iter()
                    .map(|r| r.label.clone().unwrap_or_default())
                    .collect(),
                en.team
                    .ratios
                    .iter()
                    .map(|r| r.label.clone().unwrap_or_default())
                    .collect(),
            ));
            labels.extend(pairs(
                zh.sms.templates.iter().map(|t| t.label.clone()).collect(),
                en.sms.templates.iter().map(|t| t.label.clone()).collect(),
            ));
            match (&zh.calendar, &en.calendar) {
                (Calendar::Monthly(a), Calendar::Monthly(b)) => {
                    for p in [Phase::Cross, Phase::Due, Phase::Final, Phase::Received] {
                        labels.push((a.text(p).0, b.text(p).0));
                    }
                }
                (Calendar::Cadence(a), Calendar::Cadence(b)) => {
                    labels.extend(pairs(
                        a.steps.iter().map(|s| s.label.clone()).collect(),
                        b.steps.iter().map(|s| s.label.clone()).collect(),
                    ));
                }
                _ => {}
            }
            for (zh_label, en_label) in labels {
                let han = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
                if han(&zh_label) {
                    assert!(
                        !han(&en_label),
                        "{name}: `{zh_label}` has no English label (got `{en_label}`)"
                    );
                }
            }
        }
    }

    #[test]
    fn a_playbook_without_english_labels_loads_and_falls_back_to_its_labels() {
        let text = include_str!("../../../docs/playbooks/insurance.toml")
            .lines()
            .filter(|l| !l.trim_start().starts_with("label_en") && !l.starts_with("title_en"))
            .collect::<Vec<_>>()
            .join("\n");
        let pb = Playbook::from_toml_str("old file", &text).unwrap();
        assert!(pb.title_en.is_none() && pb.grades.iter().all(|g| g.label_en.is_none()));
        assert_eq!(pb.in_language(Language::English), pb);
        let en = Playbook::insurance().in_language(Language::English);
        assert_eq!(en.grade("A").unwrap().label, "A customers");
        assert_eq!(Playbook::insurance().grade("A").unwrap().label, "A类客户");
    }
}
