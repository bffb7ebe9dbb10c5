//! The demo data generator produces a consistent, usable database.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn seed_demo_fills_a_year_of_consistent_appeals_and_can_run_twice() {
    let app = spawn_app().await;
    let report = mcu::service::seed::seed_demo(&app.state, 600, 7).await.unwrap();
    assert_eq!(report.appeals, 600);
    assert_eq!(report.users_created.len(), 5);
    let again = mcu::service::seed::seed_demo(&app.state, 50, 8).await.unwrap();
    assert!(again.users_created.is_empty(), "staff is created once");

    let (curator, _) = app.login("curator@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    let all = app.gql(Some(&curator), "{ appeals { totalCount } }", json!({})).await;
    assert_eq!(all.data()["appeals"]["totalCount"], 650);
    for (state, at_least) in [("MET", 100), ("MISSED", 5), ("OVERDUE", 1)] {
        let r = app
            .gql(
                Some(&curator),
                "query($s:[SlaState!]){ appeals(filter:{slaState:$s}) { totalCount } }",
                json!({"s": [state]}),
            )
            .await;
        assert!(r.data()["appeals"]["totalCount"].as_i64().unwrap() >= at_least, "{state}: {}", r.body);
    }
    let r = app.gql(Some(&curator), "{ appeals(first: 100, orderBy:{field: NUMBER, direction: ASC}) { edges { node { number category { name } territory { name } events { action } } } } }", json!({})).await;
    let edges = r.data()["appeals"]["edges"].as_array().unwrap();
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["category"]["name"].is_string() && e["node"]["events"][0]["action"] == "seedDemo")
    );
    let mut numbers: Vec<&str> = edges.iter().map(|e| e["node"]["number"].as_str().unwrap()).collect();
    numbers.dedup();
    assert_eq!(numbers.len(), 100, "numbers are unique");
    // The executor of the housing department sees only its own appeals.
    let (executor, _) = app.login("zhkh@demo.mcu", mcu::service::seed::DEMO_PASSWORD).await;
    let mine = app
        .gql(Some(&executor), "{ appeals(first: 100) { totalCount edges { node { recipient { name } } } } }", json!({}))
        .await;
    assert!(
        mine.data()["appeals"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["node"]["recipient"]["name"] == "Управление ЖКХ")
    );
    app.assert_rollups_agree().await;
}
