//! Arbitrary bytes as a `POST /graphql` JSON body, through everything that runs before
//! execution: the JSON reader, persisted queries, the nesting check, the GraphQL parser and
//! the document checks (field count with fragments expanded, depth, directive arguments).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let documents = mcu::http::Documents::default();
    let _ = mcu::http::graphql::prepare_json_body(&documents, data);
    // The same text as a bare document, as a GET query string carries it.
    if let Ok(text) = std::str::from_utf8(data) {
        let body = serde_json::json!({ "query": text }).to_string();
        let _ = mcu::http::graphql::prepare_json_body(&documents, body.as_bytes());
    }
});
