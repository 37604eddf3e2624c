//! The migration sets, and the databases that recorded them.

use sqlx::migrate::Migrator;

/// The legacy sets as the store embeds them.
static LEGACY_SQLITE: Migrator = sqlx::migrate!("./migrations/legacy/sqlite");
static LEGACY_POSTGRES: Migrator = sqlx::migrate!("./migrations/legacy/postgres");

/// The first 16 hex digits of each legacy file's SHA-384, as deployed databases recorded them.
/// A legacy file that changes would stop every such database from starting.
const RECORDED: [(&Migrator, &[&str]); 2] = [
    (
        &LEGACY_SQLITE,
        &[
            "356e825483fda12e",
            "6e62a8e2d235bf9d",
            "91e4f36cea86d49b",
            "743a3b828f692bb2",
            "5bf155cb68502f7c",
            "9a1548652ae6c3d1",
            "0a9dcf00079c830c",
            "a4ce6792d93cc2ee",
            "e2081f7f22759f4f",
            "8a27780252997b68",
        ],
    ),
    (
        &LEGACY_POSTGRES,
        &[
            "4e8e7947f46c74f6",
            "2d5815c3c920774b",
            "46aa27c7c638dcad",
            "9af39952cb7bb8a8",
            "40cfc053654fdd0d",
            "9997cb2b21167663",
            "bfe5e76f244312ba",
        ],
    ),
];

#[test]
fn the_legacy_files_are_those_deployed_databases_recorded() {
    for (set, recorded) in RECORDED {
        let got: Vec<String> = set
            .iter()
            .map(|m| hex::encode(&m.checksum).chars().take(16).collect())
            .collect();
        assert_eq!(got, *recorded);
        let versions: Vec<i64> = set.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=recorded.len() as i64).collect::<Vec<_>>());
    }
}
