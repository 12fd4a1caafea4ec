//! The index on PostgreSQL: client-core's [`Projection`] of a document written into the same
//! tables as its SQLite writer (`client_core::index::write`) fills, with PostgreSQL types.
//!
//! The rows are computed by client-core from the document alone; this writer only stores
//! them: one upsert per table for all the document's rows (rows whose record is unchanged
//! are not rewritten, so the touch triggers see only real changes), one delete of the rows
//! the document no longer has, and its conflicts rewritten only when they changed. Columns
//! holding dates are `date` and the record `jsonb`; the projection hands text, cast here.

use client_core::index::{IndexTable, Projection};
use postgres::types::ToSql;
use serde_json::Value as Json;

use super::DocumentTx;
use crate::error::Result;

/// The PostgreSQL type of an index column (text unless said otherwise).
fn column_type(column: &str) -> &'static str {
    match column {
        "due_date" | "day" | "date" => "date",
        "json" => "jsonb",
        _ => "text",
    }
}

/// Upserts `rows` (column values in `table`'s order) in one statement.
fn upsert(tx: &mut DocumentTx<'_>, table: IndexTable, rows: &[&[Option<String>]]) -> Result<()> {
    let cols = table.columns();
    let name = table.name();
    let arrays: Vec<Vec<Option<String>>> = (0..cols.len())
        .map(|i| rows.iter().map(|r| r[i].clone()).collect())
        .collect();
    let unnest: Vec<String> = (1..=cols.len()).map(|i| format!("${i}::text[]")).collect();
    let casts: Vec<String> = cols
        .iter()
        .map(|c| format!("CAST(r.{c} AS {})", column_type(c)))
        .collect();
    let updates: Vec<String> = cols[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO {name} ({cols}) SELECT {casts} FROM unnest({unnest}) AS r({cols})
         ON CONFLICT ({key}) DO UPDATE SET {updates}
         WHERE {name}.json IS DISTINCT FROM excluded.json",
        cols = cols.join(", "),
        casts = casts.join(", "),
        unnest = unnest.join(", "),
        key = cols[0],
        updates = updates.join(", "),
    );
    let params: Vec<&(dyn ToSql + Sync)> =
        arrays.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    tx.execute(&sql, &params)?;
    Ok(())
}

/// Writes a document's [`Projection`]: its rows upserted where their record changed, its
/// rows of records that disappeared deleted, its conflicts replaced if they differ.
pub fn write(tx: &mut DocumentTx<'_>, p: &Projection) -> Result<()> {
    for owned in &p.tables {
        let table = owned.table;
        let cols = table.columns();
        let rows: Vec<&[Option<String>]> = owned.rows.iter().map(|r| r.values.as_slice()).collect();
        if !rows.is_empty() {
            upsert(tx, table, &rows)?;
        }
        let keep: Vec<Option<String>> = owned.rows.iter().map(|r| r.values[0].clone()).collect();
        tx.execute(
            &format!(
                "DELETE FROM {} WHERE {} = $1 AND NOT ({} = ANY($2::text[]))",
                table.name(),
                table.owner_column(),
                cols[0],
            ),
            &[&owned.owner, &keep],
        )?;
    }
    // Conflicts have no identity of their own: rewrite them only when the set changed.
    let name = p.doc.to_string();
    let fresh: Vec<Json> = p
        .conflicts
        .iter()
        .map(|c| serde_json::from_str(&c.json).unwrap_or(Json::Null))
        .collect();
    let stored: Vec<Json> = tx
        .query(
            "SELECT json FROM conflicts WHERE doc = $1 ORDER BY seq",
            &[&name],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if stored != fresh {
        tx.execute("DELETE FROM conflicts WHERE doc = $1", &[&name])?;
        for (c, json) in p.conflicts.iter().zip(&fresh) {
            tx.execute(
                "INSERT INTO conflicts (doc, object, field, json) VALUES ($1, $2, $3, $4)",
                &[&name, &c.object, &c.field, json],
            )?;
        }
    }
    Ok(())
}
