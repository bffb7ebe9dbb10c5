//! Bulk inserts (`db::insert_rows`, `db::insert_rows_returning`, multi-row statements split
//! by `db::bulk_sizes`): what is read back must be what was given, to the microsecond and
//! the last bit of a float, whatever the text holds, in the rows' order.

use chrono::{TimeZone, Utc};
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use serde_json::json;

use crate::helpers::spawn_app;

/// Texts to carry unchanged: quotes, backslashes, control
/// characters, Cyrillic, a character outside the Basic Multilingual Plane, JSON-looking text.
const AWKWARD: &[&str] = &[
    "Яма у дома \"5\", подъезд 'второй'",
    "C:\\путь\\к\\файлу \\u0041 \\n",
    "строка\nвторая\tтаб\r\u{1}\u{1f}",
    "😀 эмодзи и ё",
    "null",
    "{\"a\": [1, 2]}",
];

#[tokio::test]
async fn a_bulk_insert_reads_back_every_value_as_given() {
    use mcu::entity::{appeal, appeal_event};

    let app = spawn_app().await;
    let s = app.staff().await;
    let (id, _, _) = app.appeal(&s.curator, json!({"kind": "MESSAGE", "channel": "POS", "text": "Яма"})).await;
    let id: i64 = id.parse().unwrap();
    let db = &app.state.writer;
    let template = appeal::Entity::find_by_id(id).one(db).await.unwrap().unwrap();

    // Instants at whole microseconds (what both backends keep), floats whose shortest text
    // is long or tiny, and every optional column both set and empty.
    let at =
        |n: i64| Utc.timestamp_opt(1_780_000_000 + n * 3_601, 123_457_000).unwrap() + chrono::Duration::microseconds(n);
    let floats = [0.1, -1e-7, 54.123_456_789_012_34, f64::MAX, f64::MIN_POSITIVE, 1e-300];
    let models: Vec<appeal::Model> = (0..6_i64)
        .map(|n| {
            let i = usize::try_from(n).unwrap();
            appeal::Model {
                number: format!("BULK-{n}"),
                text: AWKWARD[i].to_owned(),
                search_text: AWKWARD[(i + 1) % AWKWARD.len()].to_owned(),
                summary: (n % 2 == 0).then(|| AWKWARD[(i + 2) % AWKWARD.len()].to_owned()),
                author_contact: (n % 3 == 0).then(|| " A@B.ru ".to_owned()),
                latitude: (n % 2 == 1).then_some(floats[i]),
                longitude: Some(floats[(i + 3) % floats.len()]),
                received_at: at(n),
                due_at: at(n + 10),
                answered_at: (n % 2 == 0).then(|| at(n + 5)),
                reopen_count: i32::try_from(n).unwrap(),
                high_priority: n % 2 == 0,
                ..template.clone()
            }
        })
        .collect();
    let active = |m: &appeal::Model| {
        let mut a = m.clone().into_active_model();
        a.id = ActiveValue::NotSet;
        a
    };
    let rows: Vec<appeal::ActiveModel> = models.iter().map(active).collect();
    #[derive(Debug, sea_orm::FromQueryResult)]
    struct Back {
        id: i64,
        number: String,
    }
    let txn = mcu::db::begin_write(db).await.unwrap();
    // Statements of at most 4 rows: a full one and one of two.
    let back: Vec<Back> =
        mcu::db::insert_rows_returning(&txn, rows, 4, &[appeal::Column::Id, appeal::Column::Number]).await.unwrap();
    txn.commit().await.unwrap();
    let numbers = |v: Vec<&str>| v.join(" ");
    assert_eq!(
        numbers(back.iter().map(|b| b.number.as_str()).collect()),
        numbers(models.iter().map(|m| m.number.as_str()).collect())
    );
    let stored = appeal::Entity::find()
        .filter(appeal::Column::Number.starts_with("BULK-"))
        .order_by_asc(appeal::Column::Number)
        .all(db)
        .await
        .unwrap();
    assert_eq!(stored.len(), models.len());
    for ((got, want), b) in stored.iter().zip(&models).zip(&back) {
        assert_eq!(got.id, b.id);
        assert_eq!(got, &appeal::Model { id: got.id, ..want.clone() });
        for (g, w) in [(got.latitude, want.latitude), (got.longitude, want.longitude)] {
            assert_eq!(g.map(f64::to_bits), w.map(f64::to_bits), "{} bit for bit", want.number);
        }
    }

    // Rows without RETURNING, with a NULL and JSON-looking texts in a text column.
    let events: Vec<appeal_event::ActiveModel> = AWKWARD
        .iter()
        .enumerate()
        .map(|(i, t)| appeal_event::ActiveModel {
            id: ActiveValue::NotSet,
            appeal_id: ActiveValue::Set(id),
            at: ActiveValue::Set(at(i64::try_from(i).unwrap())),
            actor: ActiveValue::Set("bulk".into()),
            action: ActiveValue::Set(format!("bulk{i}")),
            from_status: ActiveValue::Set(None),
            to_status: ActiveValue::Set(Some("ASSIGNED".into())),
            comment: ActiveValue::Set((i % 2 == 0).then(|| (*t).to_owned())),
            data: ActiveValue::Set(Some((*t).to_owned())),
        })
        .collect();
    let txn = mcu::db::begin_write(db).await.unwrap();
    mcu::db::insert_rows(&txn, events, 1000).await.unwrap();
    txn.commit().await.unwrap();
    let stored = appeal_event::Entity::find()
        .filter(appeal_event::Column::Actor.eq("bulk"))
        .order_by_asc(appeal_event::Column::Id)
        .all(db)
        .await
        .unwrap();
    assert_eq!(stored.len(), AWKWARD.len());
    for (i, e) in stored.iter().enumerate() {
        assert_eq!(e.action, format!("bulk{i}"));
        assert_eq!(e.at, at(i64::try_from(i).unwrap()));
        assert_eq!(e.from_status, None);
        assert_eq!(e.comment.as_deref(), (i % 2 == 0).then_some(AWKWARD[i]));
        assert_eq!(e.data.as_deref(), Some(AWKWARD[i]));
    }
}
