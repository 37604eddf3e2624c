//! One schema: the two stores' live schemas, after every migration, have the same tables and,
//! table by table, the same columns (name, type family, nullability, primary key), so the
//! dialect blocks and type spellings of the one migration set cannot drift apart; and the same
//! indexes, unique and partial ones included.

use std::collections::BTreeMap;
use std::str::FromStr;

/// Table -> column -> (type family, not null, primary key position).
type Schema = BTreeMap<String, BTreeMap<String, (String, bool, i64)>>;

/// The family a declared type belongs to, by SQLite's affinity rules, which every
/// PostgreSQL type used here maps onto.
fn family(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    let f = if t.contains("int") {
        "integer"
    } else if t.contains("char") || t.contains("text") || t.contains("clob") {
        "text"
    } else if t.contains("blob") || t == "bytea" || t.is_empty() {
        "bytes"
    } else if t.contains("real") || t.contains("floa") || t.contains("doub") {
        "real"
    } else if t.contains("bool") {
        // SQLite has no boolean type: it stores 0 and 1 in an integer column.
        "integer"
    } else {
        return format!("other: {t}");
    };
    f.to_owned()
}

/// A read-only pool on the SQLite store's file.
async fn sqlite_pool(u: &crate::Under) -> sqlx::SqlitePool {
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(u.dir.path().join(kinfold_store::sqlite::DB_FILE))
        .pragma("key", format!("\"x'{}'\"", u.key.sqlcipher_key_hex()))
        .read_only(true);
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap()
}

/// Takes each named difference out of `differences`, failing when one is no longer there (so
/// the list stays true), and fails on what is left.
fn only_named(mut differences: Vec<String>, named: &[(&str, &str)], what: &str) {
    for (name, why) in named {
        let at = differences.iter().position(|d| d.starts_with(name));
        assert!(
            at.is_some(),
            "{name} is no longer a difference ({why}): remove it from the list"
        );
        if let Some(at) = at {
            differences.remove(at);
        }
    }
    assert!(
        differences.is_empty(),
        "the {what} differ:\n{}",
        differences.join("\n")
    );
}

async fn sqlite_schema(u: &crate::Under) -> Schema {
    let pool = sqlite_pool(u).await;
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT m.name, c.name, c.type, c.\"notnull\", c.pk FROM sqlite_master m \
         JOIN pragma_table_info(m.name) c \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let mut s = Schema::new();
    for (table, column, declared, not_null, pk) in rows {
        // SQLite lets a primary-key column hold NULL unless it says NOT NULL (a legacy
        // quirk); PostgreSQL's primary keys are always NOT NULL. Both refuse NULL here: the
        // store never writes one.
        let not_null = not_null == 1 || pk > 0;
        s.entry(table)
            .or_default()
            .insert(column, (family(&declared), not_null, pk));
    }
    s
}

async fn postgres_schema(u: &crate::Under) -> Schema {
    let (db, _) = u.pg.as_ref().unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let rows: Vec<(String, String, String, String, i32)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                c.is_nullable::text, COALESCE(k.ordinal_position, 0)::int4 \
         FROM information_schema.columns c \
         JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
          AND t.table_type = 'BASE TABLE' \
         LEFT JOIN information_schema.table_constraints tc \
           ON tc.table_schema = c.table_schema AND tc.table_name = c.table_name \
          AND tc.constraint_type = 'PRIMARY KEY' \
         LEFT JOIN information_schema.key_column_usage k \
           ON k.constraint_name = tc.constraint_name AND k.table_schema = c.table_schema \
          AND k.table_name = c.table_name AND k.column_name = c.column_name \
         WHERE c.table_schema = 'kinfold' AND c.table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let mut s = Schema::new();
    for (table, column, declared, nullable, pk) in rows {
        s.entry(table)
            .or_default()
            .insert(column, (family(&declared), nullable == "NO", i64::from(pk)));
    }
    s
}

/// The named differences, each a dialect's own spelling of one thing.
const DIALECT: [(&str, &str); 2] = [
    (
        "audit_log.pos",
        "PostgreSQL's stored order of the audit log; SQLite's is the implicit rowid",
    ),
    (
        "table role_secrets",
        "PostgreSQL only: the serving role's sealed password (SQLite has no roles)",
    ),
];

#[tokio::test]
async fn both_stores_have_the_same_tables_and_columns() {
    let lite = sqlite_schema(&crate::sqlite().await).await;
    let pg = postgres_schema(&crate::postgres().await).await;
    assert!(lite.len() >= 20, "{} tables", lite.len());
    let mut differences = Vec::new();
    let tables: std::collections::BTreeSet<&String> = lite.keys().chain(pg.keys()).collect();
    for t in tables {
        match (lite.get(t), pg.get(t)) {
            (Some(a), Some(b)) => {
                let columns: std::collections::BTreeSet<&String> =
                    a.keys().chain(b.keys()).collect();
                for c in columns {
                    if a.get(c) != b.get(c) {
                        differences.push(format!(
                            "{t}.{c}: sqlite {:?}, postgres {:?}",
                            a.get(c),
                            b.get(c)
                        ));
                    }
                }
            }
            (a, _) => differences.push(format!(
                "table {t} only in {}",
                if a.is_some() { "sqlite" } else { "postgres" }
            )),
        }
    }
    only_named(differences, &DIALECT, "schemas");
}

/// An index as both stores can say it: its table, whether it is unique, its predicate (a
/// partial index's `WHERE`, lower-case without spaces or parentheses; empty for none), and its
/// columns in order (`(expr)` for an expression). Primary keys are compared with the columns
/// above; names are not compared (each database names a constraint's index its own way).
type Index = (String, bool, String, String);

/// A predicate as both databases print it, without what only their spelling differs in.
fn predicate(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
        .flat_map(char::to_lowercase)
        .collect()
}

async fn sqlite_indexes(u: &crate::Under) -> Vec<Index> {
    let pool = sqlite_pool(u).await;
    // One row per indexed column; the columns are put in order here, by `seqno`.
    let rows: Vec<(String, String, bool, String, i64, String)> = sqlx::query_as(
        "SELECT m.name, il.name, il.\"unique\", \
                CASE WHEN il.partial THEN \
                  (SELECT substr(i.sql, instr(upper(i.sql), ' WHERE ') + 7) FROM sqlite_master i \
                   WHERE i.type = 'index' AND i.name = il.name) ELSE '' END, \
                ii.seqno, COALESCE(ii.name, '(expr)') \
         FROM sqlite_master m JOIN pragma_index_list(m.name) il \
         JOIN pragma_index_info(il.name) ii \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
           AND il.origin <> 'pk'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let mut by_index: BTreeMap<String, (Index, Vec<(i64, String)>)> = BTreeMap::new();
    for (table, index, unique, p, seqno, column) in rows {
        by_index
            .entry(index)
            .or_insert_with(|| ((table, unique, predicate(&p), String::new()), Vec::new()))
            .1
            .push((seqno, column));
    }
    by_index
        .into_values()
        .map(|((table, unique, p, _), mut columns)| {
            columns.sort();
            let columns: Vec<String> = columns.into_iter().map(|(_, c)| c).collect();
            (table, unique, p, columns.join(","))
        })
        .collect()
}

async fn postgres_indexes(u: &crate::Under) -> Vec<Index> {
    let (db, _) = u.pg.as_ref().unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let rows: Vec<(String, bool, String, String)> = sqlx::query_as(
        "SELECT t.relname::text, ix.indisunique, \
                COALESCE(pg_get_expr(ix.indpred, ix.indrelid), ''), \
                array_to_string(ARRAY( \
                  SELECT COALESCE(a.attname::text, '(expr)') \
                  FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, ord) \
                  LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                  ORDER BY k.ord), ',') \
         FROM pg_index ix \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'kinfold' AND NOT ix.indisprimary \
           AND t.relname <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter()
        .map(|(table, unique, p, columns)| (table, unique, predicate(&p), columns))
        .collect()
}

/// The named differences between the two stores' indexes.
const DIALECT_INDEXES: [(&str, &str); 1] = [(
    "audit_log(pos) unique",
    "PostgreSQL's stored order of the audit log; SQLite's implicit rowid needs no index",
)];

/// The indexes match too: a unique index is a wall the store relies on (one open check-in a
/// child, `attendance_open`; one name a room), and a missing one on either store would let
/// that store take what the other refuses.
#[tokio::test]
async fn both_stores_have_the_same_indexes() {
    let spell = |(table, unique, predicate, columns): &Index| {
        format!(
            "{table}({columns}){}{}",
            if *unique { " unique" } else { "" },
            if predicate.is_empty() {
                String::new()
            } else {
                format!(" where {predicate}")
            }
        )
    };
    let mut lite: Vec<String> = sqlite_indexes(&crate::sqlite().await)
        .await
        .iter()
        .map(spell)
        .collect();
    let mut pg: Vec<String> = postgres_indexes(&crate::postgres().await)
        .await
        .iter()
        .map(spell)
        .collect();
    lite.sort();
    pg.sort();
    assert!(lite.len() >= 15, "{} indexes: {lite:?}", lite.len());
    assert!(
        lite.iter()
            .any(|i| i == "attendance(tenant_id,child_id,day) unique where is_open"),
        "{lite:?}"
    );
    let mut differences: Vec<String> = Vec::new();
    for i in &lite {
        if let Some(at) = pg.iter().position(|p| p == i) {
            pg.remove(at);
        } else {
            differences.push(format!("{i} only in sqlite"));
        }
    }
    differences.extend(pg.iter().map(|i| format!("{i} only in postgres")));
    only_named(differences, &DIALECT_INDEXES, "indexes");
}
