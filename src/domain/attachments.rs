//! Attachments: what a file is (by its content, never its name), who may attach and read files
//! of each kind of object, the `Content-Disposition` of a download and the `Range` of a request.

use std::io::{Read, Seek};

use crate::domain::access::{Access, ApiScope, Role};

/// The kinds of object a file can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetKind {
    Appeal,
    Roadmap,
    Meeting,
    CurRequest,
}

impl TargetKind {
    /// The stored name (as in the `attachments.target_kind` column).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appeal => "APPEAL",
            Self::Roadmap => "ROADMAP",
            Self::Meeting => "MEETING",
            Self::CurRequest => "CUR_REQUEST",
        }
    }

    /// The prefix of the object's reference (`appeal:12`), as audit targets name objects.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Appeal => "appeal",
            Self::Roadmap => "roadmap",
            Self::Meeting => "meeting",
            Self::CurRequest => "curRequest",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Appeal, Self::Roadmap, Self::Meeting, Self::CurRequest].into_iter().find(|k| k.as_str() == s)
    }

    /// Who may attach files to an object of this kind and delete them: who may change the
    /// object (an appeal's own rule is finer, see `service::attachments`).
    pub fn write_rule(self) -> Access {
        match self {
            Self::Appeal => Access::Roles(&[Role::Curator, Role::Coordinator, Role::Executor]),
            // `updateRoadmap`, `addCurMaterial`: the centre's curators and coordinators.
            Self::Roadmap | Self::CurRequest => Access::Roles(&[Role::Curator, Role::Coordinator]),
            // `updateMeeting`: the curator and the Head.
            Self::Meeting => Access::Roles(&[Role::Curator, Role::Head]),
        }
    }

    /// Who may list and download the files of an object of this kind. People only, except
    /// the regional centre's token for the files of its own requests (materials sent on
    /// purpose); a roadmap's files may name people, which tokens are not shown.
    pub fn read_rule(self) -> Access {
        match self {
            Self::Appeal => Access::Roles(&[Role::Curator, Role::Coordinator, Role::Executor]),
            Self::Roadmap => Access::Roles(&[Role::Curator, Role::Coordinator, Role::Executor, Role::Head]),
            Self::Meeting => Access::Roles(&[Role::Curator, Role::Coordinator, Role::Head]),
            Self::CurRequest => {
                Access::RolesOrScopes(&[Role::Curator, Role::Coordinator, Role::Head], &[ApiScope::CurRequests])
            }
        }
    }
}

/// Whose file an appeal's attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttachmentRole {
    /// Sent by the author with the appeal (or of another object: its file).
    Author,
    /// Part of the answer (a signed letter, a photo of the work done).
    Answer,
}

impl AttachmentRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Author => "AUTHOR",
            Self::Answer => "ANSWER",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AUTHOR" => Some(Self::Author),
            "ANSWER" => Some(Self::Answer),
            _ => None,
        }
    }
}

/// An object reference `kind:id` (`appeal:12`, `roadmap:3`, `meeting:4`, `curRequest:5`).
///
/// # Errors
/// A message saying the accepted forms.
pub fn parse_target(s: &str) -> Result<(TargetKind, i64), String> {
    let why = || "must be appeal:ID, roadmap:ID, meeting:ID or curRequest:ID".to_string();
    let (prefix, id) = s.trim().split_once(':').ok_or_else(why)?;
    let kind = [TargetKind::Appeal, TargetKind::Roadmap, TargetKind::Meeting, TargetKind::CurRequest]
        .into_iter()
        .find(|k| k.prefix() == prefix)
        .ok_or_else(why)?;
    let id = id.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(why)?;
    Ok((kind, id))
}

/// The types of file accepted, told by their content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Jpeg,
    Png,
    Webp,
    Heic,
    Pdf,
    Docx,
    Xlsx,
    Odt,
}

impl FileType {
    /// The media type stored and sent as `Content-Type`.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Heic => "image/heic",
            Self::Pdf => "application/pdf",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Odt => "application/vnd.oasis.opendocument.text",
        }
    }

    /// Whether the server reads the picture (metadata stripped, thumbnail drawn).
    pub fn is_readable_image(self) -> bool {
        matches!(self, Self::Jpeg | Self::Png | Self::Webp)
    }
}

/// Bytes of the head of a file that [`sniff`] needs.
pub const SNIFF_BYTES: usize = 16;

/// What the first bytes of a file say it is: a known image or PDF, a ZIP container (to be
/// looked into with [`zip_kind`]), or nothing accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Known(FileType),
    Zip,
    Refused,
}

/// Tells the type from the head of a file (its magic bytes).
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Sniffed::Known(FileType::Jpeg);
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Sniffed::Known(FileType::Png);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Sniffed::Known(FileType::Webp);
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        if [b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"].iter().any(|b| brand == *b) {
            return Sniffed::Known(FileType::Heic);
        }
        return Sniffed::Refused;
    }
    if head.starts_with(b"%PDF-") {
        return Sniffed::Known(FileType::Pdf);
    }
    if head.starts_with(b"PK\x03\x04") {
        return Sniffed::Zip;
    }
    Sniffed::Refused
}

/// Largest `[Content_Types].xml` or `mimetype` entry read (they are a few kilobytes).
const MAX_MANIFEST: u64 = 256 * 1024;

/// What a ZIP container is, by its manifest: `[Content_Types].xml` naming the main part of a
/// Word document or a workbook (OOXML), or a first `mimetype` entry saying an OpenDocument
/// text; any other ZIP (or a broken one) is refused.
pub fn zip_kind<R: Read + Seek>(reader: R) -> Option<FileType> {
    let mut zip = zip::ZipArchive::new(reader).ok()?;
    if let Ok(entry) = zip.by_name("mimetype") {
        if entry.size() > MAX_MANIFEST {
            return None;
        }
        let mut s = String::new();
        entry.take(MAX_MANIFEST).read_to_string(&mut s).ok()?;
        return (s.trim() == "application/vnd.oasis.opendocument.text").then_some(FileType::Odt);
    }
    let entry = zip.by_name("[Content_Types].xml").ok()?;
    if entry.size() > MAX_MANIFEST {
        return None;
    }
    let mut s = String::new();
    entry.take(MAX_MANIFEST).read_to_string(&mut s).ok()?;
    if s.contains("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml") {
        Some(FileType::Docx)
    } else if s.contains("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml") {
        Some(FileType::Xlsx)
    } else {
        None
    }
}

/// Longest stored file name in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The name to keep: the last path segment, without control characters, at most
/// [`MAX_NAME_CHARS`] characters; `file` when nothing is left.
pub fn clean_name(given: &str) -> String {
    let last = given.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = last.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    let name = name.trim().to_string();
    if name.is_empty() || name == "." || name == ".." { "file".into() } else { name }
}

/// `Content-Disposition: attachment` with an ASCII fallback name and the original name
/// (RFC 6266, RFC 5987's `filename*=UTF-8''…`).
pub fn content_disposition(name: &str) -> String {
    use std::fmt::Write;
    let fallback: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%') || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        // RFC 5987 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No header, another unit or several ranges: the whole file (a server may ignore a
    /// `Range` it does not serve, RFC 9110 §14.2).
    Whole,
    /// One satisfiable range, first and last byte included.
    Part { first: u64, last: u64 },
    /// A single byte range that is malformed or starts past the end: 416.
    Unsatisfiable,
}

/// Reads a `Range` header (`bytes=0-99`, `bytes=100-`, `bytes=-100`) against the file size.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(h) = header else { return RangeRequest::Whole };
    let Some(spec) = h.trim().strip_prefix("bytes=") else { return RangeRequest::Whole };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeRequest::Unsatisfiable };
    let (a, b) = (a.trim(), b.trim());
    let number = |s: &str| if s.bytes().all(|c| c.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeRequest::Unsatisfiable,
        (true, false) => match number(b) {
            Some(n) if n > 0 && size > 0 => RangeRequest::Part { first: size.saturating_sub(n), last: size - 1 },
            _ => RangeRequest::Unsatisfiable,
        },
        (false, _) => {
            let Some(first) = number(a) else { return RangeRequest::Unsatisfiable };
            if first >= size {
                return RangeRequest::Unsatisfiable;
            }
            let last = if b.is_empty() {
                size - 1
            } else {
                match number(b) {
                    Some(l) if l >= first => l.min(size - 1),
                    _ => return RangeRequest::Unsatisfiable,
                }
            };
            RangeRequest::Part { first, last }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_type_is_told_by_the_content_not_the_name() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Sniffed::Known(FileType::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Sniffed::Known(FileType::Png));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Sniffed::Known(FileType::Webp));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Sniffed::Known(FileType::Heic));
        assert_eq!(sniff(b"\0\0\0\x18ftypisom\0\0\0\0"), Sniffed::Refused, "an MP4 video");
        assert_eq!(sniff(b"%PDF-1.7\n"), Sniffed::Known(FileType::Pdf));
        assert_eq!(sniff(b"PK\x03\x04\x14\0"), Sniffed::Zip);
        assert_eq!(sniff(b"MZ\x90\0\x03\0"), Sniffed::Refused, "a Windows program");
        assert_eq!(sniff(b"GIF89a"), Sniffed::Refused);
        assert_eq!(sniff(b""), Sniffed::Refused);
    }

    fn zip_with(entries: &[(&str, &str)]) -> Vec<u8> {
        use std::io::Write;
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        for (name, body) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_zip_is_what_its_manifest_says_and_a_plain_zip_is_refused() {
        let docx = zip_with(&[(
            "[Content_Types].xml",
            r#"<Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
        )]);
        assert_eq!(zip_kind(std::io::Cursor::new(docx)), Some(FileType::Docx));
        let xlsx = zip_with(&[(
            "[Content_Types].xml",
            r#"<Types><Override ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#,
        )]);
        assert_eq!(zip_kind(std::io::Cursor::new(xlsx)), Some(FileType::Xlsx));
        let odt = zip_with(&[("mimetype", "application/vnd.oasis.opendocument.text")]);
        assert_eq!(zip_kind(std::io::Cursor::new(odt)), Some(FileType::Odt));
        let ods = zip_with(&[("mimetype", "application/vnd.oasis.opendocument.spreadsheet")]);
        assert_eq!(zip_kind(std::io::Cursor::new(ods)), None);
        let pptx = zip_with(&[(
            "[Content_Types].xml",
            r#"<Types><Override ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/></Types>"#,
        )]);
        assert_eq!(zip_kind(std::io::Cursor::new(pptx)), None);
        let plain = zip_with(&[("virus.exe", "MZ")]);
        assert_eq!(zip_kind(std::io::Cursor::new(plain)), None);
        assert_eq!(zip_kind(std::io::Cursor::new(b"PK\x03\x04broken".to_vec())), None);
    }

    #[test]
    fn the_disposition_has_an_ascii_fallback_and_the_percent_encoded_original() {
        assert_eq!(
            content_disposition("Ответ на обращение.pdf"),
            "attachment; filename=\"_____ __ _________.pdf\"; filename*=UTF-8''%D0%9E%D1%82%D0%B2%D0%B5%D1%82%20%D0%BD%D0%B0%20%D0%BE%D0%B1%D1%80%D0%B0%D1%89%D0%B5%D0%BD%D0%B8%D0%B5.pdf"
        );
        assert_eq!(
            content_disposition("a\"b%c.pdf"),
            "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%25c.pdf"
        );
    }

    #[test]
    fn names_lose_their_path_and_control_characters() {
        assert_eq!(clean_name("C:\\Users\\Иван\\фото.jpg"), "фото.jpg");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\r\nb.pdf"), "ab.pdf");
        assert_eq!(clean_name(".."), "file");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name(&"я".repeat(300)).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn ranges_of_one_part_are_served_and_others_refused_or_ignored() {
        use RangeRequest::{Part, Unsatisfiable, Whole};
        assert_eq!(parse_range(None, 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Part { first: 0, last: 9 });
        assert_eq!(parse_range(Some("bytes=90-"), 100), Part { first: 90, last: 99 });
        assert_eq!(parse_range(Some("bytes=90-1000"), 100), Part { first: 90, last: 99 });
        assert_eq!(parse_range(Some("bytes=-10"), 100), Part { first: 90, last: 99 });
        assert_eq!(parse_range(Some("bytes=-1000"), 100), Part { first: 0, last: 99 });
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=9-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=x-1"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=+1-2"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), Whole);
    }

    #[test]
    fn targets_are_named_as_audit_targets_are() {
        assert_eq!(parse_target("appeal:12"), Ok((TargetKind::Appeal, 12)));
        assert_eq!(parse_target("curRequest:5"), Ok((TargetKind::CurRequest, 5)));
        assert!(parse_target("12").is_err());
        assert!(parse_target("appeal:0").is_err());
        assert!(parse_target("user:3").is_err());
    }
}
