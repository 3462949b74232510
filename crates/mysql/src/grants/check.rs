//! A table's privileges, as `SHOW GRANTS` printed them, against the grant tables.

use super::{Grant, GrantError, identifier};

/// Checks a table's privileges read from `SHOW GRANTS` against the grant tables, which hold
/// them as data: every table-level privilege must be in `table_privileges`
/// (`mysql.tables_priv.Table_priv`, e.g. `Select,Insert,Grant`) and every column privilege in
/// `columns` (`mysql.columns_priv` rows: column name, `Column_priv`). A MySQL 5.7 column name
/// that prints as more privileges (`a), INSERT (b`) fails here.
pub fn check_table_privileges(
    grant: &Grant,
    table_privileges: &str,
    columns: &[(String, String)],
) -> Result<(), GrantError> {
    let (Grant::Privileges {
        privileges, object, ..
    }
    | Grant::Revoke { privileges, object }) = grant
    else {
        return Ok(());
    };
    let stored = |set: &str| -> Vec<String> {
        set.split(',')
            .map(|word| match word.trim().to_ascii_uppercase().as_str() {
                "DELETE VERSIONING ROWS" => "DELETE HISTORY".to_owned(),
                other => other.to_owned(),
            })
            .filter(|word| !word.is_empty())
            .collect()
    };
    let table_level = stored(table_privileges);
    for privilege in privileges {
        let mismatch = |reason: String| GrantError {
            privilege: privilege.name.clone(),
            object: object.to_string(),
            reason,
        };
        if privilege.columns.is_empty() {
            let held = if privilege.name == "ALL" || privilege.name == "ALL PRIVILEGES" {
                ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP"]
                    .iter()
                    .all(|name| table_level.iter().any(|held| held == name))
            } else {
                table_level.contains(&privilege.name)
            };
            if !held {
                return Err(mismatch(
                    "mysql.tables_priv does not hold this table-level privilege".to_owned(),
                ));
            }
            continue;
        }
        for column in &privilege.columns {
            let held = columns.iter().any(|(name, set)| {
                name.eq_ignore_ascii_case(column) && stored(set).contains(&privilege.name)
            });
            if !held {
                return Err(mismatch(format!(
                    "mysql.columns_priv does not hold it on column {}",
                    identifier(column)
                )));
            }
        }
    }
    Ok(())
}
