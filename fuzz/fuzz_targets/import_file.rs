//! Arbitrary bytes through the import parsers, as an upload reaches them: the XLSX pre-scan
//! and reader (ПОС, «Инцидент менеджмент» and VK comments layouts), the CSV decoder and
//! reader, and the VK comments JSON guard and parser, with the server's limits (a smaller
//! unpacked size, so that one input stays within the RSS limit).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcu::domain::import_format::{FileFormat, parse_with};
use mcu::domain::xlsx_guard::ImportLimits;

fuzz_target!(|data: &[u8]| {
    let limits = ImportLimits { max_rows: 1_000, max_unpacked_bytes: 64 << 20 };
    for format in [FileFormat::PosXlsx, FileFormat::IncidentXlsx, FileFormat::Csv, FileFormat::VkComments] {
        // A file-level refusal is an answer; a panic, an abort or a leak is a finding.
        let _ = parse_with(format, data, &limits);
    }
});
