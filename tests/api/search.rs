//! Full-text search of the appeal list (PostgreSQL `tsvector` with the Russian
//! configuration; SQLite FTS5 over the project's stems) and totals of the list, summed from
//! the rollups where the filter allows, agreeing with the rows.

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

const LIST: &str = "query($f:AppealFilter,$o:AppealOrder,$first:Int,$after:String,$last:Int,$before:String){ appeals(filter:$f, orderBy:$o, first:$first, after:$after, last:$last, before:$before) { totalCount edges { cursor node { text channel authorName } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

async fn list(app: &TestApp, token: &str, vars: Value) -> Value {
    app.gql(Some(token), LIST, vars).await.data()["appeals"].clone()
}

fn texts(page: &Value) -> Vec<String> {
    page["edges"].as_array().unwrap().iter().map(|e| e["node"]["text"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn search_finds_word_forms_ranks_them_and_keeps_scope_masking_and_totals() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS"]})).await;
    let (_, head) = app.user_with(&admin, &["HEAD"], json!({})).await;
    let (_, executor) = app.user_with(&admin, &["EXECUTOR"], json!({})).await;
    let appeals = [
        ("Дороги разбиты, дорогу к школе не чинят, на дороге ямы", "POS"),
        ("Разбита дорога у школы", "EMAIL"),
        ("Холодные батареи в квартире", "POS"),
        ("Яма на выезде, просим отремонтировать дорогу", "POS"),
        ("Дорожный знак упал", "PHONE"),
    ];
    let mut ids = Vec::new();
    for (text, channel) in appeals {
        let (id, _, _) = app
            .appeal(
                &curator,
                json!({"kind": "MESSAGE", "channel": channel, "text": text, "authorName": "Иван Петров", "authorContact": "ivan@example.ru"}),
            )
            .await;
        ids.push(id);
    }
    // Every form of «дорога» finds the same three appeals, the one that says it most first.
    for word in ["дорога", "дороги", "дорогу", "ДОРОГЕ"] {
        let page = list(&app, &curator, json!({"f": {"search": word}})).await;
        let found = texts(&page);
        assert_eq!(found.len(), 3, "{word}: {found:?}");
        assert_eq!(found[0], appeals[0].0, "{word}: best match first");
        assert_eq!(page["totalCount"], 3, "{word}");
        assert!(!found.iter().any(|t| t.starts_with("Дорожный")), "another word is not a form of «дорога»");
    }
    // Every word must be found.
    assert_eq!(texts(&list(&app, &curator, json!({"f": {"search": "дорога школа"}})).await).len(), 2);
    assert_eq!(list(&app, &curator, json!({"f": {"search": "дорога батареи"}})).await["totalCount"], 0);
    // A search of stop words only finds everything, in the default order.
    assert_eq!(list(&app, &curator, json!({"f": {"search": "и на"}})).await["totalCount"], 5);
    // With an order the search filters; the order is the one asked for.
    let by_receipt =
        list(&app, &curator, json!({"f": {"search": "дорогу"}, "o": {"field": "RECEIVED_AT", "direction": "ASC"}}))
            .await;
    assert_eq!(texts(&by_receipt), [appeals[0].0, appeals[1].0, appeals[3].0]);

    // Ranked pages: forward by place, then back from a cursor; the same rows as one page.
    let all = texts(&list(&app, &curator, json!({"f": {"search": "дорога"}})).await);
    let p1 = list(&app, &curator, json!({"f": {"search": "дорога"}, "first": 2})).await;
    assert_eq!(texts(&p1), all[..2]);
    assert_eq!(
        (p1["pageInfo"]["hasNextPage"].clone(), p1["pageInfo"]["hasPreviousPage"].clone()),
        (json!(true), json!(false))
    );
    let p2 = list(&app, &curator, json!({"f": {"search": "дорога"}, "first": 2, "after": p1["pageInfo"]["endCursor"]}))
        .await;
    assert_eq!(texts(&p2), all[2..]);
    assert_eq!(
        (p2["pageInfo"]["hasNextPage"].clone(), p2["pageInfo"]["hasPreviousPage"].clone()),
        (json!(false), json!(true))
    );
    let back =
        list(&app, &curator, json!({"f": {"search": "дорога"}, "last": 1, "before": p2["pageInfo"]["startCursor"]}))
            .await;
    assert_eq!(texts(&back), all[1..2]);
    // Paging a ranking from its end has no place to start from; a cursor of another order is refused.
    let r = app.gql(Some(&curator), LIST, json!({"f": {"search": "дорога"}, "last": 2})).await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec!["last".to_string()]));
    let other = list(&app, &curator, json!({"first": 1})).await["pageInfo"]["endCursor"].clone();
    let r = app.gql(Some(&curator), LIST, json!({"f": {"search": "дорога"}, "after": other})).await;
    assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec!["after".to_string()]));
    // A forged place past any ranking is refused at its field, filtered or not (its bounds
    // would not fit the statement); the last place allowed is read, and is past the end.
    let place =
        |n: i64| json!({"k": "@rank", "id": n}).to_string().bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for f in [json!({"search": "дорога"}), json!({"search": "дорога", "channel": ["POS"]})] {
        for (n, path) in [(i64::MAX, "after"), (i64::MAX / 32, "after"), ((1 << 40) + 1, "before")] {
            let vars = json!({"f": f, "first": if path == "after" { json!(5) } else { Value::Null },
                              "last": if path == "before" { json!(5) } else { Value::Null }, path: place(n)});
            let r = app.gql(Some(&curator), LIST, vars).await;
            assert_eq!((r.code(), r.field_paths()), ("BAD_USER_INPUT".to_string(), vec![path.to_string()]), "{n}");
        }
        let far = list(&app, &curator, json!({"f": f, "first": 5, "after": place(1 << 40)})).await;
        assert_eq!(far["edges"], json!([]));
    }

    // Scope: a coordinator of POS finds only POS appeals, and its total says so.
    let pos = list(&app, &coordinator, json!({"f": {"search": "дорога"}})).await;
    assert_eq!(texts(&pos), [appeals[0].0, appeals[3].0]);
    assert_eq!(pos["totalCount"], 2);
    assert!(pos["edges"].as_array().unwrap().iter().all(|e| e["node"]["channel"] == "POS"));
    assert_eq!(pos["edges"][0]["node"]["authorName"], "Иван Петров", "it handles them");
    // The head finds them all, with the author's name masked; an executor with no
    // appeals assigned finds none.
    let seen = list(&app, &head, json!({"f": {"search": "дорога"}})).await;
    assert_eq!(seen["totalCount"], 3);
    assert!(seen["edges"].as_array().unwrap().iter().all(|e| e["node"]["authorName"] != "Иван Петров"));
    assert_eq!(list(&app, &executor, json!({"f": {"search": "дорога"}})).await["totalCount"], 0);
    // Nobody signed in reads nothing.
    assert_eq!(app.gql(None, LIST, json!({"f": {"search": "дорога"}})).await.code(), "UNAUTHENTICATED");

    // A changed text is searched as it is now, not as it was.
    let r = app
        .gql(
            Some(&curator),
            "mutation($i:UpdateAppealInput!){updateAppeal(input:$i){version}}",
            json!({"i": {"id": ids[1], "version": 1, "text": "Не работает фонарь во дворе"}}),
        )
        .await;
    assert_eq!(r.data()["updateAppeal"]["version"], 2);
    assert_eq!(list(&app, &curator, json!({"f": {"search": "дорога"}})).await["totalCount"], 2);
    assert_eq!(texts(&list(&app, &curator, json!({"f": {"search": "фонари"}})).await), ["Не работает фонарь во дворе"]);
}

/// A ranked search of one word lists the appeals that say it most first, and those that
/// say it equally often by id, page after page and within a filter. On PostgreSQL the page
/// is read as two runs (the appeals that say the word more than once, from the index of
/// repeated words, then those that say it once, by id); the places must be those of the
/// one ranked order.
#[tokio::test]
async fn a_ranked_word_lists_the_appeals_that_say_it_most_first_page_after_page() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    // Every text has the same number of words, so SQLite's BM25 also ranks by how often the
    // word comes (and equally for equal counts).
    let fillers = ["асфальт", "тротуар", "разметка", "бордюр", "покрытие"];
    let times = [1, 2, 0, 1, 3, 1, 2, 1, 0, 4, 1, 1, 2, 1, 3, 1, 1, 1, 5, 1];
    let mut made = Vec::new();
    for (i, n) in times.into_iter().enumerate() {
        let words: Vec<&str> = (0..5).map(|w| if w < n { "дорога" } else { fillers[w] }).collect();
        let channel = if i % 3 == 0 { "EMAIL" } else { "POS" };
        let text = format!("{} номер {}", words.join(" "), i + 10);
        let (id, _, _) = app.appeal(&curator, json!({"kind": "MESSAGE", "channel": channel, "text": text})).await;
        made.push((id, n, channel));
    }
    // Most mentions first; equal mentions in the order the appeals were made (by id).
    let expected = |made: &[(String, usize, &str)], channel: Option<&str>| {
        let mut rows: Vec<(usize, usize, String)> = made
            .iter()
            .enumerate()
            .filter(|(_, (_, n, c))| *n > 0 && channel.is_none_or(|want| want == *c))
            .map(|(i, (id, n, _))| (*n, i, id.clone()))
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        rows.into_iter().map(|(_, _, id)| id).collect::<Vec<_>>()
    };
    const IDS: &str = "query($f:AppealFilter,$first:Int,$after:String){ appeals(filter:$f, first:$first, after:$after) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }";
    let walk = |filter: Value, first: i64| {
        let (app, curator) = (&app, &curator);
        async move {
            let (mut ids, mut after, mut pages) = (Vec::new(), Value::Null, 0);
            loop {
                let r = app.gql(Some(curator), IDS, json!({"f": filter, "first": first, "after": after})).await;
                let page = r.data()["appeals"].clone();
                ids.extend(
                    page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_string()),
                );
                pages += 1;
                assert!(pages < 30, "the pages end");
                if page["pageInfo"]["hasNextPage"] != json!(true) {
                    return (ids, page["totalCount"].clone());
                }
                after = page["pageInfo"]["endCursor"].clone();
            }
        }
    };
    let all = expected(&made, None);
    assert_eq!(all.len(), 18);
    for first in [1, 4, 7, 50] {
        let (ids, total) = walk(json!({"search": "дорога"}), first).await;
        assert_eq!(ids, all, "pages of {first}");
        assert_eq!(total, json!(18));
    }
    // Two forms of the word search for it once, and rank as it.
    assert_eq!(walk(json!({"search": "дороги дорогу"}), 5).await.0, all);
    // Within a filter, both runs keep to it.
    let pos = expected(&made, Some("POS"));
    assert_eq!(walk(json!({"search": "дорога", "channel": ["POS"]}), 3).await.0, pos);
    // A second word ranks the common appeals (the one statement, not the runs).
    let both = walk(json!({"search": "дорога тротуар"}), 4).await.0;
    let mut with_both: Vec<String> = made.iter().filter(|(_, n, _)| *n == 1).map(|(id, _, _)| id.clone()).collect();
    with_both.sort();
    let mut found = both.clone();
    found.sort();
    assert_eq!(found, with_both, "«тротуар» is the second word of the texts that say «дорога» once");

    // A changed text is ranked as it is now: the last appeal says the word five times (the
    // first page of one row must find it beyond the other run's first rows), the one that
    // said it five times says it once.
    let edit = |id: &str, version: i64, text: &str| {
        let vars = json!({"i": {"id": id, "version": version, "text": text}});
        let (app, curator) = (&app, &curator);
        async move {
            let r =
                app.gql(Some(curator), "mutation($i:UpdateAppealInput!){updateAppeal(input:$i){version}}", vars).await;
            r.data();
        }
    };
    edit(&made[19].0, 1, "дорога дорога дорога дорога дорога номер 29").await;
    edit(&made[18].0, 1, "дорога тротуар разметка бордюр покрытие номер 28").await;
    made[19].1 = 5;
    made[18].1 = 1;
    let now = expected(&made, None);
    assert_eq!(now[0], made[19].0);
    assert_eq!(walk(json!({"search": "дорога"}), 1).await.0, now);

    // On PostgreSQL the store keeps the repeated words of every appeal as the database
    // counts them in `search_tsv`, through inserts and edits.
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let pg = backend == sea_orm::DatabaseBackend::Postgres;
    let sql = |q: &str| Statement::from_string(backend, q.to_owned());
    let repeats = || async {
        let ours = "SELECT appeal_id, word, times FROM appeal_repeats ORDER BY appeal_id, word";
        let theirs = "SELECT a.id AS appeal_id, u.lexeme AS word, cardinality(u.positions) AS times \
                      FROM appeals AS a, unnest(a.search_tsv) AS u WHERE cardinality(u.positions) > 1 ORDER BY 1, 2";
        let rows = |q: &'static str| async move {
            let rows = db.query_all_raw(sql(q)).await.unwrap();
            rows.iter()
                .map(|r| {
                    let id: i64 = r.try_get("", "appeal_id").unwrap();
                    let word: String = r.try_get("", "word").unwrap();
                    let times: i32 = r.try_get("", "times").unwrap();
                    (id, word, times)
                })
                .collect::<Vec<_>>()
        };
        let (ours, theirs) = (rows(ours).await, rows(theirs).await);
        assert_eq!(ours, theirs, "the store's repeated words are search_tsv's");
        ours
    };
    if pg {
        let mut got: Vec<i32> = repeats().await.into_iter().filter(|r| r.1 == "дорог").map(|r| r.2).collect();
        let mut want: Vec<i32> = made.iter().filter(|m| m.1 > 1).map(|m| i32::try_from(m.1).unwrap()).collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "one entry per appeal that says «дорога» twice or more, with the count");
    }

    // A database that ran the first version of the ranking (a column of repeated words,
    // GIN-indexed on PostgreSQL) loses the column, and on PostgreSQL gets the table, filled
    // from the appeals there are.
    let all = migration::Migrator::migrations();
    let at = all.iter().position(|m| m.name() == "m20270116_000001_repeated_words").unwrap();
    let back = u32::try_from(all.len() - at).unwrap();
    migration::Migrator::down(db, Some(back)).await.unwrap();
    assert!(db.query_one_raw(sql("SELECT 1 FROM appeal_repeats")).await.is_err(), "no table left");
    db.execute_raw(sql("ALTER TABLE appeals ADD COLUMN search_repeated TEXT NOT NULL DEFAULT ''")).await.unwrap();
    if pg {
        db.execute_raw(sql("CREATE INDEX ix_appeals_search_repeated ON appeals \
                            USING gin (to_tsvector('simple'::regconfig, search_repeated))"))
            .await
            .unwrap();
    }
    mcu::db::migrate(db).await.unwrap();
    assert!(db.query_one_raw(sql("SELECT search_repeated FROM appeals")).await.is_err(), "the old column is gone");
    if pg {
        let left = db
            .query_one_raw(sql("SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'ix_appeals_search_repeated'"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(left.try_get::<i64>("", "n").unwrap(), 0, "the old index is gone");
        // The server vacuums and analyzes the new table after the migration: its index-only
        // reads skip the heap, and the planner knows how many entries a word has.
        let stats = "SELECT vacuum_count AS n, (SELECT count(*) FROM pg_stats WHERE tablename = 'appeal_repeats') AS s \
                     FROM pg_stat_user_tables WHERE relname = 'appeal_repeats'";
        let stats = db.query_one_raw(sql(stats)).await.unwrap().unwrap();
        assert_eq!(stats.try_get::<i64>("", "n").unwrap(), 1, "vacuumed once");
        assert!(stats.try_get::<i64>("", "s").unwrap() > 0, "analyzed");
        let filled = repeats().await;
        assert_eq!(filled.iter().filter(|r| r.1 == "дорог").count(), made.iter().filter(|m| m.1 > 1).count());
    } else {
        // SQLite ranks with FTS5 and has no table of repeated words.
        assert!(db.query_one_raw(sql("SELECT 1 FROM appeal_repeats")).await.is_err());
    }
    assert_eq!(walk(json!({"search": "дорога"}), 1).await.0, now);

    // A stem of letters and digits that PostgreSQL reads as two lexemes («12e3x»: a number
    // in exponent notation and a word) is ranked as the words it is: the appeal that says it
    // three times first, though made last (beyond the first rows of a walk by id); the
    // others say as many words, so SQLite's BM25 ranks them alike too.
    let mut mixed = Vec::new();
    for text in ["Код 12e3x щиток", "Код 12e3x подъезд", "Код 12e3x лифт", "Код 12e3x снова 12e3x опять 12e3x"]
    {
        mixed.push(app.appeal(&curator, json!({"kind": "MESSAGE", "channel": "POS", "text": text})).await.0);
    }
    mixed.rotate_right(1);
    assert_eq!(walk(json!({"search": "12e3x"}), 1).await.0, mixed);
}

/// Totals summed from the rollups (filters on status, kind, channel, category, territory,
/// recipient and dates, within any scope) and totals counted (SLA states, deadlines,
/// search) agree with the rows the list pages through.
#[tokio::test]
async fn totals_agree_with_the_rows_for_every_filter_and_scope() {
    let app = spawn_app_with(|a| a.access_ttl_secs = 400 * 86_400).await;
    app.set_now("2026-11-20T12:00:00+07:00");
    let admin = app.admin().await;
    let city = app.territory(&admin, "Сорск", None).await;
    let district = app.territory(&admin, "Северный", Some(&city)).await;
    let other = app.territory(&admin, "Другой", None).await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let (_, local) = app.user_with(&admin, &["CURATOR"], json!({"territoryId": city})).await;
    let (_, coordinator) = app.user_with(&admin, &["COORDINATOR"], json!({"channels": ["POS", "EMAIL"]})).await;
    let (_, head) = app.user_with(&admin, &["HEAD"], json!({"territoryId": city})).await;
    let recipient = app.recipient(&admin, "Управление ЖКХ").await;
    let (_, executor) = app.user_with(&admin, &["EXECUTOR"], json!({"recipientId": recipient})).await;
    let heating = app.category(&curator, "Отопление").await;
    let roads = app.category(&curator, "Дороги").await;
    let places = [&city, &district, &other];
    let channels = ["POS", "EMAIL", "PHONE"];
    let days = ["2026-10-30T23:30:00+07:00", "2026-11-02T00:30:00+07:00", "2026-11-18T09:00:00+07:00"];
    for i in 0..12 {
        let cat = if i % 2 == 0 { &heating } else { &roads };
        let (id, _, _) = app
            .appeal(
                &curator,
                json!({"kind": if i % 4 == 0 { "APPEAL" } else { "MESSAGE" }, "channel": channels[i % 3],
                       "text": format!("Дорога номер {i}"), "categoryId": cat, "territoryId": places[i % 3],
                       "receivedAt": days[i % 3]}),
            )
            .await;
        if i % 3 != 2 {
            app.act(&curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
        }
        if i % 3 == 0 {
            let r = app
                .act(
                    &curator,
                    "assignAppeal",
                    "AssignAppealInput",
                    json!({"id": id, "version": 2, "recipientId": recipient}),
                )
                .await;
            r.data();
        }
    }
    let filters = [
        json!({}),
        json!({"status": ["REGISTERED"]}),
        json!({"status": ["ASSIGNED", "RECEIVED"]}),
        json!({"kind": ["APPEAL"]}),
        json!({"channel": ["POS", "PHONE"]}),
        json!({"categoryId": [heating]}),
        json!({"territoryId": [city]}),
        json!({"recipientId": [recipient]}),
        json!({"receivedFrom": "2026-11-01", "receivedTo": "2026-11-30"}),
        json!({"receivedFrom": "2026-10-31"}),
        json!({"receivedTo": "2026-11-02", "channel": ["EMAIL"]}),
        json!({"status": ["REGISTERED"], "territoryId": [district]}),
        json!({"slaState": ["ON_TIME"]}),
        json!({"dueBefore": "2026-11-20T00:00:00+07:00"}),
        json!({"search": "дорогой", "channel": ["POS"]}),
        // Counted in the search index alone on SQLite for whoever sees every appeal.
        json!({"search": "дорогой"}),
        json!({"search": "школы"}),
    ];
    // Unfolded ledger rows, then the same folded, then folded and unfolded rows of the same
    // keys (a step taken after the fold): the totals sum them alike.
    for round in 0..3 {
        if round == 1 {
            let folded = mcu::service::rollup::compact(&app.state.db, true).await.unwrap();
            assert!(folded.is_some(), "the ledger had unfolded rows");
        }
        if round == 2 {
            let (id, _, _) = app
                .appeal(
                    &curator,
                    json!({"kind": "APPEAL", "channel": "POS", "text": "Дорога у школы", "categoryId": heating,
                           "territoryId": district, "receivedAt": days[1]}),
                )
                .await;
            app.act(&curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": 1})).await.data();
            // Its words change, and it still says «дорога»: its entry in the search index is
            // replaced, not added to.
            let r = app
                .gql(
                    Some(&curator),
                    "mutation($i:UpdateAppealInput!){updateAppeal(input:$i){version}}",
                    json!({"i": {"id": id, "version": 2, "text": "Дорога у школы разбита"}}),
                )
                .await;
            assert_eq!(r.data()["updateAppeal"]["version"], 3);
        }
        let mut nonzero = 0;
        for who in [&curator, &local, &coordinator, &head, &executor] {
            for f in &filters {
                let page = list(&app, who, json!({"f": f, "first": 100})).await;
                let rows = page["edges"].as_array().unwrap().len();
                assert_eq!(page["totalCount"], json!(rows), "round {round}: {f}");
                nonzero += usize::from(rows > 0);
            }
        }
        assert!(nonzero > 40, "the filters select something: {nonzero}");
        // Every appeal says «дорога» once, the edited one too: counted once each.
        let says = list(&app, &curator, json!({"f": {"search": "дорогой"}, "first": 100})).await;
        assert_eq!(says["totalCount"], json!(12 + usize::from(round == 2)), "round {round}");
        app.assert_rollups_agree().await;
    }
}

/// A ranked word within a filter: the word's repeated entries walked for a filter that keeps
/// many appeals, the one statement for a filter that keeps few (summed from the rollups
/// before the page is read, in the same statement) or when the walk did not find the page,
/// and the same pages either way, page after page.
#[tokio::test]
async fn a_ranked_word_within_a_rare_filter_reads_the_one_statement_and_within_a_common_one_the_runs() {
    use mcu::domain::lifecycle::AppealStatus;
    use mcu::service::appeal_query::{AppealFilter, ListRequest, OrderField};
    let app = spawn_app_with(|_| {}).await;
    mcu::service::seed::seed_demo(&app.state, 1500, 3).await.unwrap();
    let (curator, _) = app.login("curator@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    const TOTAL: &str = "query($f:AppealFilter){ appeals(filter:$f, first:1) { totalCount } }";
    let total = |f: Value| {
        let (app, curator) = (&app, &curator);
        async move { app.gql(Some(curator), TOTAL, json!({"f": f})).await.data()["appeals"]["totalCount"].as_u64().unwrap() }
    };
    // The demo's most common word of a few that its texts use.
    let mut word = ("", 0);
    for w in ["двор", "дорога", "подъезд", "дом", "вода", "улица", "мусор", "яма"]
    {
        let n = total(json!({"search": w})).await;
        if n > word.1 {
            word = (w, n);
        }
    }
    let (word, matches) = word;
    assert!(matches >= 100, "the demo says «{word}» in {matches} appeals");
    // A status with so few of the appeals (under 1.5%) that the most entries a first page
    // of 50 may walk (32 for each of the 51 rows it reads) would not be expected to hold
    // half of it, and a few of the word's; and the most common status.
    let mut shares = Vec::new();
    for s in AppealStatus::ALL {
        let n = total(json!({"status": [s.as_str()]})).await;
        let with_word = total(json!({"status": [s.as_str()], "search": word})).await;
        shares.push((*s, n, with_word));
    }
    let (rare, rare_n, rare_matches) = *shares
        .iter()
        .filter(|(_, n, m)| *n * 10_000 < 3 * 51 * 1500 && *m >= 2)
        .max_by_key(|(_, _, m)| *m)
        .unwrap_or_else(|| panic!("a rare status with the word: {shares:?}"));
    let (common, common_n, _) = *shares.iter().max_by_key(|(_, n, _)| *n).unwrap();
    assert!(common_n * 10_000 >= 3 * 200 * 1500, "{common:?} keeps {common_n} of 1,500");

    const IDS: &str = "query($f:AppealFilter,$o:AppealOrder,$first:Int,$after:String){ appeals(filter:$f, orderBy:$o, first:$first, after:$after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }";
    let walk = |filter: Value, order: Value, first: i64| {
        let (app, curator) = (&app, &curator);
        async move {
            let (mut ids, mut after, mut pages) = (Vec::new(), Value::Null, 0);
            loop {
                let vars = json!({"f": filter, "o": order, "first": first, "after": after});
                let page = app.gql(Some(curator), IDS, vars).await.data()["appeals"].clone();
                ids.extend(
                    page["edges"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["node"]["id"].as_str().unwrap().parse::<i64>().unwrap()),
                );
                pages += 1;
                assert!(pages < 200, "the pages end");
                if page["pageInfo"]["hasNextPage"] != json!(true) {
                    return ids;
                }
                after = page["pageInfo"]["endCursor"].clone();
            }
        }
    };
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let pg = backend == sea_orm::DatabaseBackend::Postgres;
    // The word the demo repeats most (PostgreSQL), and a status with 3–12% of the appeals:
    // a first page of 3 finds a row or more in the first 32 entries, under 4, and the rest in
    // the next 96 (the second part of the walk).
    let repeated: String = if pg {
        let top =
            "SELECT word FROM appeal_repeats WHERE word ~ '^[а-я]+$' GROUP BY word ORDER BY count(*) DESC LIMIT 1";
        let rows = db.query_all_raw(Statement::from_string(backend, top.to_owned())).await.unwrap();
        rows[0].try_get_by_index(0).unwrap()
    } else {
        word.to_string()
    };
    let (mid, _, _) = *shares
        .iter()
        .filter(|(_, n, _)| *n * 100 >= 3 * 1500 && *n * 100 <= 12 * 1500)
        .max_by_key(|(_, n, _)| *n)
        .unwrap_or_else(|| panic!("a status with 3–12% of the appeals: {shares:?}"));
    for (word, status, n) in [(word, rare, rare_matches), (word, common, 0), (repeated.as_str(), mid, 0)] {
        // PostgreSQL's ranking of all the word's appeals: the order each filtered walk keeps.
        let ranked: Vec<i64> = if pg {
            let q = format!(
                "SELECT id FROM appeals WHERE search_tsv @@ plainto_tsquery('simple', '{0}') \
                 ORDER BY ts_rank(search_tsv, plainto_tsquery('simple', '{0}')) DESC, id",
                mcu::domain::text::normalize_for_search(word)
            );
            let rows = db.query_all_raw(Statement::from_string(backend, q)).await.unwrap();
            rows.iter().map(|r| r.try_get_by_index::<i64>(0).unwrap()).collect()
        } else {
            Vec::new()
        };
        let filter = json!({"status": [status.as_str()], "search": word});
        let mut members = walk(filter.clone(), json!({"field": "NUMBER", "direction": "ASC"}), 50).await;
        members.sort_unstable();
        if n > 0 {
            assert_eq!(members.len() as u64, n);
        }
        for first in [50, 7, 3] {
            let ids = walk(filter.clone(), Value::Null, first).await;
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, members, "{word} {status:?}, pages of {first}: each match once");
            if pg {
                let want: Vec<i64> = ranked.iter().copied().filter(|id| members.binary_search(id).is_ok()).collect();
                assert_eq!(ids, want, "{word} {status:?}, pages of {first}: by rank, then id");
            }
        }
    }

    // Which way the first page took, as PostgreSQL ran it: a rare status does not walk the
    // word's entries; a common one finds its page of 3 among the first 32 entries of the
    // word most often repeated (neither the rest of the walk nor the one statement is read),
    // the status of 3–12% in the rest of the walk; a word alone reads the runs.
    if pg {
        let app = &app;
        let plan = move |status: Option<AppealStatus>, word: String, limit: u64| async move {
            let f =
                AppealFilter { status: status.into_iter().collect(), search: Some(word), ..AppealFilter::default() };
            let req = ListRequest { order: OrderField::Relevance, limit, ..ListRequest::default() };
            mcu::service::list_explain::explain(&app.state, &f, req, 1, false).await.unwrap().page.plan
        };
        let rare_plan = plan(Some(rare), word.to_string(), 50).await;
        assert!(rare_plan.contains("[CTE probe] Limit (never executed)"), "{rare:?} ({rare_n}): {rare_plan}");
        assert!(rare_plan.contains("[CTE rest] Limit (never executed)"), "{rare_plan}");
        assert!(rare_plan.contains("[CTE whole] Limit >"), "{rare_plan}");
        let common_plan = plan(Some(common), repeated.clone(), 3).await;
        assert!(common_plan.contains("[CTE whole] Limit (never executed)"), "{common:?}: {common_plan}");
        assert!(common_plan.contains("[CTE probe] Limit >"), "{common_plan}");
        assert!(common_plan.contains("[CTE rest] Limit (never executed)"), "the probe found the page: {common_plan}");
        let mid_plan = plan(Some(mid), repeated.clone(), 3).await;
        assert!(mid_plan.contains("[CTE rest] Limit >"), "{mid:?}: {mid_plan}");
        assert!(mid_plan.contains("[CTE whole] Limit (never executed)"), "{mid:?}: {mid_plan}");
        let alone = plan(None, repeated, 3).await;
        assert!(!alone.contains("whole") && alone.contains("[CTE run1] Limit (never executed)"), "{alone}");
    }
}

/// The search index is derived from the appeals' words: `mcu rollup verify` names it when
/// it lost an appeal's words (rows written around the server, a damaged file), and `mcu
/// rollup rebuild` writes it again from `appeals`: on SQLite the FTS5 index, on PostgreSQL
/// the words each appeal says more than once (which rank a search of one word).
#[tokio::test]
async fn verify_names_a_search_index_that_lost_words_and_rebuild_restores_it() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin().await;
    let (_, curator) = app.user_with(&admin, &["CURATOR"], json!({})).await;
    let (db, tz) = (&app.state.db, app.state.settings.timezone);
    let mut ids = Vec::new();
    for text in ["Разбита дорога у школы", "Дорога, дорога и ещё раз дорога: ямы", "Фонарь не горит"]
    {
        if ids.len() == 2 && db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // A gap of 10^15 ids (a sequence moved on): verify and rebuild walk the ids
            // there are, not every range up to the largest.
            let far = "SELECT setval(pg_get_serial_sequence('appeals', 'id'), 1000000000000000)";
            db.execute_unprepared(far).await.unwrap();
        }
        let (id, _, _) = app.appeal(&curator, json!({"kind": "MESSAGE", "channel": "POS", "text": text})).await;
        ids.push(id.parse::<i64>().unwrap());
    }
    async fn ranked(app: &TestApp, curator: &str) -> Vec<String> {
        texts(&list(app, curator, json!({"f": {"search": "дорога"}})).await)
    }
    let before = ranked(&app, &curator).await;
    assert_eq!(before, ["Дорога, дорога и ещё раз дорога: ямы", "Разбита дорога у школы"]);
    app.assert_rollups_agree().await;

    // The index loses the words of the appeal that says «дорога» three times.
    let lost = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        format!("DELETE FROM appeal_repeats WHERE appeal_id = {}", ids[1])
    } else {
        format!(
            "INSERT INTO appeals_fts (appeals_fts, rowid, search_text) SELECT 'delete', id, search_text FROM appeals WHERE id = {}",
            ids[1]
        )
    };
    db.execute_unprepared(&lost).await.unwrap();
    let diffs = mcu::service::rollup::verify(db, tz).await.unwrap();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(diffs[0].starts_with("appeal_repeats: 1 entries") || diffs[0].starts_with("appeals_fts:"), "{diffs:?}");
    let postgres = db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let entries = || async {
        let sql = format!("SELECT count(*) AS n FROM appeal_repeats WHERE appeal_id = {}", ids[1]);
        let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
        row.unwrap().try_get::<i64>("", "n").unwrap()
    };
    if postgres {
        assert_eq!(entries().await, 0);
    } else {
        // On SQLite the appeal is no longer found.
        assert_eq!(ranked(&app, &curator).await, ["Разбита дорога у школы"]);
    }

    mcu::service::rollup::rebuild(db, tz).await.unwrap();
    app.assert_rollups_agree().await;
    assert_eq!(ranked(&app, &curator).await, before);
    assert_eq!(list(&app, &curator, json!({"f": {"search": "дорога"}})).await["totalCount"], 2);
    if postgres {
        assert_eq!(entries().await, 1, "«дорога» three times: one entry");
    }
}
