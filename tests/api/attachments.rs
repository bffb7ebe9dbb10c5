//! Attachments over HTTP: upload through the GraphQL multipart request spec, download at
//! `/files/{id}` (original Russian name, ranges, nosniff), who may attach and read on each
//! kind of object, type by content, limits, EXIF/GPS removal, no file left by a failed upload,
//! and the sweep of stored files without a row.

use serde_json::{Value, json};

use crate::helpers::{Staff, TestApp, spawn_app_with};
use mcu::config::SettingsArgs;

const ADD: &str = "mutation($t:ID!,$f:Upload!,$r:AttachmentRole){ a: addAttachment(target:$t, file:$f, role:$r) { id fileName contentType size url thumbnailUrl role createdAt } }";

/// Uploads `bytes` named `name` to `target` as `role` (AUTHOR when `None`).
pub async fn upload(
    app: &TestApp,
    token: Option<&str>,
    target: &str,
    role: Option<&str>,
    name: &str,
    bytes: &[u8],
) -> Value {
    let operations = json!({"query": ADD, "variables": {"t": target, "f": null, "r": role}});
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({"0": ["variables.f"]}).to_string())
        .part("0", reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string()));
    let mut req = app.client.post(format!("{}/graphql", app.base)).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().json::<Value>().await.unwrap()
}

fn code(r: &Value) -> String {
    r["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK").to_string()
}

fn added(r: &Value) -> &Value {
    assert!(r.get("errors").is_none(), "unexpected errors: {r}");
    &r["data"]["a"]
}

async fn get(app: &TestApp, token: Option<&str>, url: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{url}", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.unwrap()
}

/// A small PDF (its content, whatever its name).
pub fn pdf(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.4\n".to_vec();
    while v.len() < len.saturating_sub(6) {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v.extend_from_slice(b"\n%%EOF");
    v
}

/// A minimal Word document: a ZIP whose `[Content_Types].xml` names a document part.
fn docx() -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut out);
    w.start_file("[Content_Types].xml", zip::write::SimpleFileOptions::default()).unwrap();
    w.write_all(br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#).unwrap();
    w.start_file("word/document.xml", zip::write::SimpleFileOptions::default()).unwrap();
    w.write_all(b"<w:document/>").unwrap();
    w.finish().unwrap();
    out.into_inner()
}

/// A plain ZIP holding a program.
fn plain_zip() -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut out);
    w.start_file("setup.exe", zip::write::SimpleFileOptions::default()).unwrap();
    w.write_all(b"MZ\x90\0").unwrap();
    w.finish().unwrap();
    out.into_inner()
}

/// The APP1 segment of a JPEG holding EXIF with GPS tags (latitude 53°43' N), written by hand:
/// a little-endian TIFF header, IFD0 with the GPS IFD pointer, the GPS IFD with
/// GPSLatitudeRef and GPSLatitude, and the latitude's three rationals.
fn exif_gps_segment() -> Vec<u8> {
    let mut t: Vec<u8> = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    // IFD0 at 8: one entry, GPSInfo (0x8825, LONG) -> 26.
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&0x8825u16.to_le_bytes());
    t.extend_from_slice(&4u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&26u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 26);
    // The GPS IFD at 26: GPSLatitudeRef "N", GPSLatitude (3 RATIONAL at 56).
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&2u32.to_le_bytes());
    t.extend_from_slice(b"N\0\0\0");
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&5u16.to_le_bytes());
    t.extend_from_slice(&3u32.to_le_bytes());
    t.extend_from_slice(&56u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 56);
    for v in [53u32, 1, 43, 1, 0, 1] {
        t.extend_from_slice(&v.to_le_bytes());
    }
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&t);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    seg.extend_from_slice(&payload);
    seg
}

/// A 640×480 JPEG photo with GPS EXIF right after its start marker.
fn photo_with_gps() -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut plain = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 85).encode_image(&img).unwrap();
    let plain = plain.into_inner();
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&exif_gps_segment());
    out.extend_from_slice(&plain[2..]);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Objects in the test's storage (files and thumbnails), read through the storage itself.
pub(crate) async fn stored_files(app: &TestApp) -> usize {
    let future = chrono::Utc::now() + chrono::Duration::days(1);
    app.state.storage.keys_older_than("attachments", future).await.unwrap().len()
}

/// Where a test keeps its files: its own directory, or its own bucket on the S3-compatible
/// test server whose address `tests/run.sh` passes in `MCU_TEST_S3_ENDPOINT` (moto in server
/// mode). Without it, or when it cannot be reached, an S3 test fails: it never skips.
#[derive(Debug, Clone, Copy)]
enum Store {
    Local,
    S3,
}

async fn s3_url() -> String {
    let endpoint = std::env::var("MCU_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!("MCU_TEST_S3_ENDPOINT is not set: run the tests with tests/run.sh, which starts moto_server")
    });
    let endpoint = endpoint.trim_end_matches('/');
    let bucket = format!("mcu-test-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the S3 test server at {endpoint} cannot be reached: {e}"));
    assert!(created.status().is_success(), "the S3 test server did not create a bucket: {}", created.status());
    format!(
        "s3://{bucket}/files?endpoint={endpoint}&allow_http=true&region=us-east-1&access_key_id=test&secret_access_key=test"
    )
}

async fn spawn_on(store: Store, change: impl FnOnce(&mut SettingsArgs)) -> TestApp {
    let url = match store {
        Store::Local => None,
        Store::S3 => Some(s3_url().await),
    };
    spawn_app_with(|a| {
        a.access_ttl_secs = 30 * 86_400;
        if url.is_some() {
            a.storage_url = url;
        }
        change(a);
    })
    .await
}

/// The same test on the local directory and on S3.
macro_rules! on_both_storages {
    ($test:ident: $local:ident, $s3:ident) => {
        #[tokio::test]
        async fn $local() {
            $test(Store::Local).await;
        }
        #[tokio::test]
        async fn $s3() {
            $test(Store::S3).await;
        }
    };
}

async fn spawn() -> TestApp {
    spawn_app_with(|a| a.access_ttl_secs = 30 * 86_400).await
}

/// An appeal of the POS channel (the coordinator's), registered and assigned to the
/// executor's recipient.
async fn assigned_appeal(app: &TestApp, s: &Staff) -> String {
    let (id, v, _) = app
        .appeal(
            &s.curator,
            json!({"kind": "MESSAGE", "channel": "POS", "text": "Яма во дворе дома 5 по ул. Ленина",
                   "authorName": "Иван Петров", "authorContact": "ivan@mail.ru"}),
        )
        .await;
    app.act(&s.curator, "registerAppeal", "AppealActionInput", json!({"id": id, "version": v})).await.data();
    app.act(
        &s.curator,
        "assignAppeal",
        "AssignAppealInput",
        json!({"id": id, "version": v + 1, "recipientId": s.recipient}),
    )
    .await
    .data();
    id
}

on_both_storages!(upload_download_delete: a_file_is_uploaded_listed_downloaded_with_its_russian_name_and_ranges_and_deleted_on_local, a_file_is_uploaded_listed_downloaded_with_its_russian_name_and_ranges_and_deleted_on_s3);

async fn upload_download_delete(store: Store) {
    let app = spawn_on(store, |_| {}).await;
    let s = app.staff().await;
    let id = assigned_appeal(&app, &s).await;
    let target = format!("appeal:{id}");
    let bytes = pdf(1000);
    let r = upload(&app, Some(&s.curator), &target, None, "Жалоба жителя.pdf", &bytes).await;
    let a = added(&r).clone();
    assert_eq!(a["fileName"], "Жалоба жителя.pdf");
    assert_eq!(a["contentType"], "application/pdf");
    assert_eq!(a["size"], 1000);
    assert_eq!(a["role"], "AUTHOR");
    assert!(a["thumbnailUrl"].is_null(), "no thumbnail for a PDF");
    let url = a["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("/files/{}", a["id"].as_str().unwrap()));
    assert_eq!(app.audit_count("addAttachment").await, 1);

    let listed =
        app.gql(Some(&s.executor), "query($id:ID!){appeal(id:$id){attachments{id fileName}}}", json!({"id": id})).await;
    assert_eq!(listed.data()["appeal"]["attachments"], json!([{"id": a["id"], "fileName": "Жалоба жителя.pdf"}]));
    let for_head = app.gql(Some(&s.head), "query($id:ID!){appeal(id:$id){attachments{id}}}", json!({"id": id})).await;
    assert_eq!(for_head.data()["appeal"]["attachments"], json!([]), "the Head does not handle the appeal");

    let reads_before = app.audit_count("read.personalData").await;
    let resp = get(&app, Some(&s.executor), &url, None).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["content-length"], "1000");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"______ ______.pdf\"; filename*=UTF-8''%D0%96%D0%B0%D0%BB%D0%BE%D0%B1%D0%B0%20%D0%B6%D0%B8%D1%82%D0%B5%D0%BB%D1%8F.pdf"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(app.audit_count("read.personalData").await, reads_before + 1, "an appeal's file is personal data");

    let part = get(&app, Some(&s.executor), &url, Some("bytes=10-19")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(part.headers()["content-length"], "10");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let tail = get(&app, Some(&s.executor), &url, Some("bytes=-5")).await;
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &bytes[995..]);
    let bad = get(&app, Some(&s.executor), &url, Some("bytes=1000-")).await;
    assert_eq!(bad.status(), 416);
    assert_eq!(bad.headers()["content-range"], "bytes */1000");

    assert_eq!(stored_files(&app).await, 1);
    let del = app.gql(Some(&s.curator), "mutation($id:ID!){deleteAttachment(id:$id)}", json!({"id": a["id"]})).await;
    assert_eq!(del.data()["deleteAttachment"], true);
    assert_eq!(app.audit_count("deleteAttachment").await, 1);
    assert_eq!(stored_files(&app).await, 0, "deleting the row deletes its file");
    assert_eq!(get(&app, Some(&s.executor), &url, None).await.status(), 404);
}

on_both_storages!(roles: who_may_attach_and_read_is_who_may_change_and_read_each_object_on_local, who_may_attach_and_read_is_who_may_change_and_read_each_object_on_s3);

async fn roles(store: Store) {
    let app = spawn_on(store, |_| {}).await;
    let s = app.staff().await;
    let id = assigned_appeal(&app, &s).await;
    let appeal = format!("appeal:{id}");
    let f = pdf(100);
    let cur = {
        let q = "mutation{createApiToken(input:{name:\"ЦУР\",scopes:[CUR_REQUESTS]}){secret}}";
        app.gql(Some(&s.admin), q, json!({})).await.data()["createApiToken"]["secret"].as_str().unwrap().to_string()
    };

    // The author's files: those who route the appeal.
    for (who, token, expected) in [
        ("anonymous", None, "UNAUTHENTICATED"),
        ("admin", Some(&s.admin), "FORBIDDEN"),
        ("head", Some(&s.head), "FORBIDDEN"),
        ("executor", Some(&s.executor), "FORBIDDEN"),
        ("other executor", Some(&s.other_executor), "NOT_FOUND"),
        ("token", Some(&cur), "FORBIDDEN"),
        ("coordinator", Some(&s.coordinator), "OK"),
        ("curator", Some(&s.curator), "OK"),
    ] {
        let r = upload(&app, token.map(String::as_str), &appeal, None, "a.pdf", &f).await;
        assert_eq!(code(&r), expected, "{who} attaching the author's file: {r}");
    }
    // The answer's files: those who may answer it.
    for (who, token, expected) in [
        ("head", &s.head, "FORBIDDEN"),
        ("other executor", &s.other_executor, "NOT_FOUND"),
        ("executor", &s.executor, "OK"),
    ] {
        let r = upload(&app, Some(token), &appeal, Some("ANSWER"), "ответ.pdf", &f).await;
        assert_eq!(code(&r), expected, "{who} attaching the answer's file: {r}");
    }
    let answer = upload(&app, Some(&s.executor), &appeal, Some("ANSWER"), "ответ.pdf", &f).await;
    let url = added(&answer)["url"].as_str().unwrap().to_string();
    assert_eq!(added(&answer)["role"], "ANSWER");
    for (who, token, status) in [
        ("anonymous", None, 401),
        ("head", Some(&s.head), 403),
        ("token", Some(&cur), 403),
        ("other executor", Some(&s.other_executor), 404),
        ("executor", Some(&s.executor), 200),
        ("coordinator", Some(&s.coordinator), 200),
    ] {
        let resp = get(&app, token.map(String::as_str), &url, None).await;
        assert_eq!(resp.status().as_u16(), status, "{who} reading an appeal's file");
    }
    // The executor may not delete the author's file but may delete its answer's.
    let author_file = app
        .gql(Some(&s.curator), "query($id:ID!){appeal(id:$id){attachments{id role}}}", json!({"id": id}))
        .await
        .data()["appeal"]["attachments"][0]["id"]
        .clone();
    let del =
        app.gql(Some(&s.executor), "mutation($id:ID!){deleteAttachment(id:$id)}", json!({"id": author_file})).await;
    assert_eq!(del.code(), "FORBIDDEN");

    // A roadmap: curators and coordinators change it; the Head and executors read it.
    let roadmap = app
        .gql(
            Some(&s.coordinator),
            "mutation{ r: createRoadmap(input:{title:\"Ливнёвка\", problem:\"Подтопления\"}) { id } }",
            json!({}),
        )
        .await
        .data()["r"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let target = format!("roadmap:{roadmap}");
    for (who, token, expected) in [
        ("head", &s.head, "FORBIDDEN"),
        ("executor", &s.executor, "FORBIDDEN"),
        ("token", &cur, "FORBIDDEN"),
        ("coordinator", &s.coordinator, "OK"),
    ] {
        let r = upload(&app, Some(token), &target, None, "план.pdf", &f).await;
        assert_eq!(code(&r), expected, "{who} attaching to a roadmap: {r}");
    }
    assert_eq!(code(&upload(&app, Some(&s.curator), &target, Some("ANSWER"), "x.pdf", &f).await), "BAD_USER_INPUT");
    assert_eq!(code(&upload(&app, Some(&s.curator), "roadmap:999999", None, "x.pdf", &f).await), "NOT_FOUND");
    let r = upload(&app, Some(&s.curator), &target, None, "план.pdf", &f).await;
    let url = added(&r)["url"].as_str().unwrap().to_string();
    assert_eq!(get(&app, Some(&s.head), &url, None).await.status(), 200);
    assert_eq!(get(&app, Some(&cur), &url, None).await.status(), 403, "a roadmap's files may name people");
    let listed =
        app.gql(Some(&s.head), "query($id:ID!){roadmap(id:$id){attachments{fileName}}}", json!({"id": roadmap})).await;
    assert_eq!(listed.data()["roadmap"]["attachments"], json!([{"fileName": "план.pdf"}, {"fileName": "план.pdf"}]));

    // A meeting: the curator and the Head change it; coordinators read it.
    let meeting = app
        .gql(
            Some(&s.curator),
            "mutation($i:CreateMeetingInput!){ r: createMeeting(input:$i) { id } }",
            json!({"i": {"title": "Совещание", "startsAt": "2026-11-25T03:00:00Z", "participantIds": [], "agenda": []}}),
        )
        .await
        .data()["r"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let target = format!("meeting:{meeting}");
    for (who, token, expected) in
        [("coordinator", &s.coordinator, "FORBIDDEN"), ("executor", &s.executor, "FORBIDDEN"), ("head", &s.head, "OK")]
    {
        let r = upload(&app, Some(token), &target, None, "протокол.pdf", &f).await;
        assert_eq!(code(&r), expected, "{who} attaching to a meeting: {r}");
    }
    let r = upload(&app, Some(&s.curator), &target, None, "протокол.pdf", &f).await;
    let url = added(&r)["url"].as_str().unwrap().to_string();
    assert_eq!(get(&app, Some(&s.coordinator), &url, None).await.status(), 200);
    assert_eq!(get(&app, Some(&s.executor), &url, None).await.status(), 403);

    // A request of the regional centre: curators and coordinators; its token reads the files.
    let request = app
        .gql(
            Some(&cur),
            "mutation($i:CreateCurRequestInput!){ r: createCurRequest(input:$i) { id } }",
            json!({"i": {"subject": "Справка", "body": "Пришлите фото", "dueDate": "2027-12-09"}}),
        )
        .await
        .data()["r"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let target = format!("curRequest:{request}");
    for (who, token, expected) in
        [("head", &s.head, "FORBIDDEN"), ("token", &cur, "FORBIDDEN"), ("coordinator", &s.coordinator, "OK")]
    {
        let r = upload(&app, Some(token), &target, None, "справка.pdf", &f).await;
        assert_eq!(code(&r), expected, "{who} attaching to a ЦУР request: {r}");
    }
    let listed = app
        .gql(Some(&cur), "query($id:ID!){curRequest(id:$id){attachments{fileName url}}}", json!({"id": request}))
        .await;
    let url = listed.data()["curRequest"]["attachments"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(get(&app, Some(&cur), &url, None).await.status(), 200);
    assert_eq!(get(&app, Some(&s.executor), &url, None).await.status(), 403);

    assert_eq!(code(&upload(&app, Some(&s.curator), "user:1", None, "x.pdf", &f).await), "BAD_USER_INPUT");
}

on_both_storages!(types: the_type_is_told_by_the_content_not_the_name_on_local, the_type_is_told_by_the_content_not_the_name_on_s3);

async fn types(store: Store) {
    let app = spawn_on(store, |_| {}).await;
    let s = app.staff().await;
    let id = assigned_appeal(&app, &s).await;
    let target = format!("appeal:{id}");
    let r = upload(&app, Some(&s.curator), &target, None, "photo.jpg", &pdf(300)).await;
    assert_eq!(added(&r)["contentType"], "application/pdf", "a PDF named .jpg is a PDF");
    let r = upload(&app, Some(&s.curator), &target, None, "договор.docx", &docx()).await;
    assert_eq!(added(&r)["contentType"], "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    for (name, bytes) in [
        ("photo.jpg", b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec()),
        ("report.docx", plain_zip()),
        ("note.pdf", b"just text, not a PDF".to_vec()),
        ("empty.pdf", Vec::new()),
        // An iPhone photo: its metadata (with the place) cannot be removed, so it is refused.
        ("IMG_0001.HEIC", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec()),
    ] {
        let r = upload(&app, Some(&s.curator), &target, None, name, &bytes).await;
        assert_eq!(code(&r), "BAD_USER_INPUT", "{name}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["fields"][0]["path"], "file", "{r}");
    }
    assert_eq!(stored_files(&app).await, 2, "refused files are not stored");
}

on_both_storages!(limits: limits_per_file_and_per_object_hold_and_a_refused_upload_leaves_no_file_on_local, limits_per_file_and_per_object_hold_and_a_refused_upload_leaves_no_file_on_s3);

async fn limits(store: Store) {
    let app = spawn_on(store, |a| {
        a.attachment_max_bytes = 1000;
        a.attachment_max_object_bytes = 1500;
    })
    .await;
    let s = app.staff().await;
    let id = assigned_appeal(&app, &s).await;
    let target = format!("appeal:{id}");
    let r = upload(&app, Some(&s.curator), &target, None, "big.pdf", &pdf(1001)).await;
    assert_eq!(code(&r), "BAD_USER_INPUT");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("1000 bytes"), "{r}");
    added(&upload(&app, Some(&s.curator), &target, None, "one.pdf", &pdf(1000)).await);
    // 1000 + 600 > 1500: refused in the transaction that would write the row, after the
    // file was stored; the stored file is removed.
    let r = upload(&app, Some(&s.curator), &target, None, "two.pdf", &pdf(600)).await;
    assert_eq!(code(&r), "BAD_USER_INPUT");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("1500 bytes"), "{r}");
    assert_eq!(stored_files(&app).await, 1, "only the accepted file is stored");
    assert_eq!(app.audit_count("addAttachment").await, 1);
    added(&upload(&app, Some(&s.curator), &target, None, "three.pdf", &pdf(500)).await);
}

on_both_storages!(exif: a_photo_comes_back_without_its_gps_metadata_and_with_a_thumbnail_on_local, a_photo_comes_back_without_its_gps_metadata_and_with_a_thumbnail_on_s3);

async fn exif(store: Store) {
    let app = spawn_on(store, |_| {}).await;
    let s = app.staff().await;
    let id = assigned_appeal(&app, &s).await;
    let photo = photo_with_gps();
    assert!(contains(&photo, b"Exif\0\0II*\0"), "the fixture holds EXIF");
    let r = upload(&app, Some(&s.curator), &format!("appeal:{id}"), None, "яма.jpg", &photo).await;
    let a = added(&r).clone();
    assert_eq!(a["contentType"], "image/jpeg");
    let expected_size = photo.len() - exif_gps_segment().len();
    assert_eq!(a["size"], expected_size, "exactly the EXIF segment is removed, nothing re-encoded");
    let got = get(&app, Some(&s.executor), a["url"].as_str().unwrap(), None).await.bytes().await.unwrap().to_vec();
    assert!(!contains(&got, b"Exif"), "no EXIF left");
    assert!(!contains(&got, &[0xFF, 0xE1]), "no APP1 segment left");
    let mut rational = Vec::new();
    for v in [53u32, 1, 43, 1] {
        rational.extend_from_slice(&v.to_le_bytes());
    }
    assert!(!contains(&got, &rational), "no GPS latitude left");
    let mut without = photo[..2].to_vec();
    without.extend_from_slice(&photo[2 + exif_gps_segment().len()..]);
    assert_eq!(got, without, "the picture's own bytes are untouched");

    let thumb = get(&app, Some(&s.executor), a["thumbnailUrl"].as_str().unwrap(), None).await;
    assert_eq!(thumb.status(), 200);
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 192));
    assert_eq!(get(&app, Some(&s.head), a["thumbnailUrl"].as_str().unwrap(), None).await.status(), 403);
    assert_eq!(stored_files(&app).await, 2, "the photo and its thumbnail");
}

on_both_storages!(sweep: the_sweep_removes_stored_files_without_a_row_once_they_are_old_enough_on_local, the_sweep_removes_stored_files_without_a_row_once_they_are_old_enough_on_s3);

async fn sweep(store: Store) {
    let app = spawn_on(store, |_| {}).await;
    let s = app.staff().await;
    let id = assigned_appeal(&app, &s).await;
    let r = upload(&app, Some(&s.curator), &format!("appeal:{id}"), None, "kept.pdf", &pdf(200)).await;
    let url = added(&r)["url"].as_str().unwrap().to_string();
    // What a process that died between storing a file and writing its row leaves.
    app.state.storage.put_bytes("attachments/orphan", b"%PDF-1.4 orphan".to_vec()).await.unwrap();
    assert_eq!(stored_files(&app).await, 2);
    let now = chrono::Utc::now();
    let swept = mcu::service::attachments::sweep(&app.state, now).await.unwrap();
    assert_eq!(swept, 0, "within the grace period an upload may still be writing its row");
    let later = now + chrono::Duration::seconds(86_400 + 60);
    let swept = mcu::service::attachments::sweep(&app.state, later).await.unwrap();
    assert_eq!(swept, 1);
    assert!(!app.state.storage.exists("attachments/orphan").await.unwrap());
    assert_eq!(stored_files(&app).await, 1);
    assert_eq!(get(&app, Some(&s.executor), &url, None).await.status(), 200, "a file with a row stays");
}

#[tokio::test]
async fn a_page_of_appeals_reads_their_attachments_in_one_statement() {
    let app = spawn().await;
    let s = app.staff().await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let id = assigned_appeal(&app, &s).await;
        added(&upload(&app, Some(&s.curator), &format!("appeal:{id}"), None, "a.pdf", &pdf(100)).await);
        ids.push(id);
    }
    let q = "query($n:Int!){ appeals(first:$n){ edges { node { id } } } }";
    let qa = "query($n:Int!){ appeals(first:$n){ edges { node { id attachments { id fileName } } } } }";
    let mut costs = Vec::new();
    // The fewest of three tries: a statement of the session cache's refill (after an
    // announcement heard late, on PostgreSQL) must not count as the page's.
    let cost = |query: &'static str, n: usize| {
        let (app, token) = (&app, s.curator.clone());
        async move {
            let mut fewest = u64::MAX;
            let mut last = None;
            for _ in 0..3 {
                app.settle().await;
                let before = app.sql_statements();
                let r = app.gql(Some(&token), query, json!({"n": n})).await;
                fewest = fewest.min(app.sql_statements() - before);
                last = Some(r);
            }
            (fewest, last.unwrap())
        }
    };
    for n in [2, 4] {
        let (plain, _) = cost(q, n).await;
        let (with, r) = cost(qa, n).await;
        let edges = r.data()["appeals"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), n);
        assert!(edges.iter().all(|e| e["node"]["attachments"].as_array().unwrap().len() == 1));
        costs.push(i128::from(with) - i128::from(plain));
    }
    assert_eq!(costs[0], costs[1], "the attachments cost the same for 2 and 4 appeals: {costs:?}");
}

#[tokio::test]
async fn the_attachments_migration_rolls_back_and_reapplies() {
    use migration::MigratorTrait;
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn().await;
    let s = app.staff().await;
    let id = assigned_appeal(&app, &s).await;
    added(&upload(&app, Some(&s.curator), &format!("appeal:{id}"), None, "a.pdf", &pdf(100)).await);
    let db = &app.state.db;
    let count = || async {
        let sql = "SELECT COUNT(*) AS n FROM attachments";
        db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await
    };
    assert!(count().await.is_ok());
    let all = migration::Migrator::migrations();
    let at = all.iter().position(|m| m.name() == "m20261228_000001_attachments").unwrap();
    // This migration and every later one, newest first.
    migration::Migrator::down(db, Some(u32::try_from(all.len() - at).unwrap())).await.unwrap();
    assert!(count().await.is_err(), "the table is gone after down");
    migration::Migrator::up(db, None).await.unwrap();
    let n = count().await.unwrap().unwrap().try_get::<i64>("", "n").unwrap();
    assert_eq!(n, 0, "the table comes back empty");
    added(&upload(&app, Some(&s.curator), &format!("appeal:{id}"), None, "b.pdf", &pdf(100)).await);
}

#[tokio::test]
async fn a_client_that_reads_too_slowly_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_on(Store::Local, |a| a.download_timeout_ms = 500).await;
    let s = app.staff().await;
    let id = assigned_appeal(&app, &s).await;
    let size = 12 << 20;
    let r = upload(&app, Some(&s.curator), &format!("appeal:{id}"), None, "big.pdf", &pdf(size)).await;
    let url = added(&r)["url"].as_str().unwrap().to_string();
    // A client with a small receive buffer, so that what is in flight (its buffer and the
    // server's send buffer, a few MB) is far less than the file and the server must wait.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET {url} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        s.executor
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..got]).starts_with("HTTP/1.1 200"));
    // The reader stalls past the server's limit, then reads on as fast as it can.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < size, "the server closed the download after its time limit: {got} of {size} bytes read");
}

const INGEST: &str = "mutation($i:[IngestAppealInput!]!){ingestAppeals(input:$i){created rejected{row field message}}}";

/// A file server on the loopback: `/photo.jpg` (a photo with GPS EXIF), `/big.pdf` (over the
/// test's limit), `/program.jpg` (a Windows program); returns its base URL.
async fn file_server() -> String {
    use axum::routing::get;
    let photo = photo_with_gps();
    let router = axum::Router::new()
        .route("/photo.jpg", get(move || async move { photo }))
        .route("/big.pdf", get(|| async { pdf(200_000) }))
        .route("/program.jpg", get(|| async { b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://127.0.0.1:{port}")
}

/// The fetches of links once none is waiting (within 20 s): (status, error) by URL.
async fn fetched(app: &TestApp) -> std::collections::BTreeMap<String, (String, Option<String>)> {
    use sea_orm::EntityTrait;
    for _ in 0..200 {
        let rows = mcu::entity::attachment_fetch::Entity::find().all(&app.state.db).await.unwrap();
        if rows.iter().all(|r| r.status != "PENDING" && r.status != "FETCHING") {
            return rows.into_iter().map(|r| (r.url, (r.status, r.error))).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the links were not fetched in time");
}

#[tokio::test]
async fn files_linked_from_ingested_items_are_fetched_in_the_background_within_the_limits() {
    let app = spawn_on(Store::Local, |a| a.attachment_max_bytes = 100_000).await;
    let s = app.staff().await;
    let files = file_server().await;
    let item = json!({"channel": "POS", "externalId": "pos-1", "kind": "MESSAGE",
        "receivedAt": "2026-12-01T10:00:00+07:00", "text": "Яма во дворе, фото приложено",
        "attachmentUrls": [format!("{files}/photo.jpg"), format!("{files}/big.pdf"), format!("{files}/program.jpg")]});
    let bad = json!({"channel": "POS", "externalId": "pos-2", "kind": "MESSAGE",
        "receivedAt": "2026-12-01T10:00:00+07:00", "text": "Ещё", "attachmentUrls": ["file:///etc/passwd"]});
    let r = app.gql(Some(&s.coordinator), INGEST, json!({"i": [item, bad]})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 1);
    assert_eq!(r.data()["ingestAppeals"]["rejected"][0]["field"], "attachmentUrls");
    let got = fetched(&app).await;
    assert_eq!(got[&format!("{files}/photo.jpg")].0, "DONE");
    let big = &got[&format!("{files}/big.pdf")];
    assert_eq!(big.0, "FAILED");
    assert!(big.1.as_deref().unwrap().contains("larger than 100000 bytes"), "{big:?}");
    let program = &got[&format!("{files}/program.jpg")];
    assert_eq!(program.0, "FAILED");
    assert!(program.1.as_deref().unwrap().contains("not an accepted type"), "{program:?}");

    let q = "{ appeals(first: 5) { edges { node { attachments { fileName contentType url } } } } }";
    let r = app.gql(Some(&s.coordinator), q, json!({})).await;
    let files = r.data()["appeals"]["edges"][0]["node"]["attachments"].as_array().unwrap().clone();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["fileName"], "photo.jpg");
    assert_eq!(files[0]["contentType"], "image/jpeg");
    let photo = get(&app, Some(&s.coordinator), files[0]["url"].as_str().unwrap(), None).await.bytes().await.unwrap();
    assert!(!contains(&photo, b"Exif"), "a fetched photo loses its EXIF too");
    assert_eq!(stored_files(&app).await, 2, "the photo and its thumbnail; nothing of the refused files");
}

#[tokio::test]
async fn a_link_to_a_private_or_loopback_address_is_not_fetched() {
    let app = spawn_on(Store::Local, |a| a.webhook_allow_private = false).await;
    let s = app.staff().await;
    let files = file_server().await;
    let item = json!({"channel": "POS", "externalId": "pos-1", "kind": "MESSAGE",
        "receivedAt": "2026-12-01T10:00:00+07:00", "text": "Яма",
        "attachmentUrls": [format!("{files}/photo.jpg"), "http://localhost:1/photo.jpg"]});
    let r = app.gql(Some(&s.coordinator), INGEST, json!({"i": [item]})).await;
    assert_eq!(r.data()["ingestAppeals"]["created"], 1);
    for (url, (status, error)) in fetched(&app).await {
        assert_eq!(status, "FAILED", "{url}");
        assert!(error.as_deref().unwrap().contains("refused"), "{url}: {error:?}");
    }
    assert_eq!(stored_files(&app).await, 0);
}
