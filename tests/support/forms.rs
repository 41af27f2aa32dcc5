//! Files in the formats field teams' tools export, built here following
//! those tools' conventions: an ODK Central CSV zip, a KoboToolbox XLSX, a
//! camera's JPEG. Shared by the form tests and the README's commands.

use std::io::Write;

/// A JPEG's first bytes and some data: what a phone's camera writes.
pub fn jpeg(seed: u8) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
    b.extend((0..3000u32).map(|i| (i as u8).wrapping_mul(seed)));
    b.extend([0xFF, 0xD9]);
    b
}

pub fn csv(rows: &[Vec<&str>]) -> Vec<u8> {
    let mut w = ::csv::Writer::from_writer(vec![]);
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.into_inner().unwrap()
}

/// A row of `head`'s columns: the cells named, empty elsewhere.
pub fn row<'a>(head: &[&str], cells: &[(&str, &'a str)]) -> Vec<&'a str> {
    let mut out = vec![""; head.len()];
    for (column, value) in cells {
        let at = head.iter().position(|h| h == column).unwrap_or_else(|| panic!("no column {column}"));
        out[at] = value;
    }
    out
}

pub const ROOT_HEAD: &[&str] = &[
    "SubmissionDate",
    "start",
    "end",
    "event",
    "team",
    "edan_type",
    "lead_evaluator",
    "info_sources",
    "location-department",
    "location-province",
    "location-community_or_zone",
    "zone-zone_id",
    "zone-zone_name",
    "zone-zone_geo-Latitude",
    "zone-zone_geo-Longitude",
    "zone-zone_geo-Altitude",
    "zone-zone_geo-Accuracy",
    "tally-families_affected",
    "tally-persons_affected",
    "tally-dead",
    "tally-injured",
    "tally-houses_destroyed",
    "tally-ha_vegetation_burned",
    "tally-method",
    "tally-note",
    "meta-instanceID",
    "KEY",
    "SubmitterID",
    "SubmitterName",
    "AttachmentsPresent",
    "AttachmentsExpected",
    "Status",
    "ReviewState",
    "DeviceID",
    "Edits",
    "FormVersion",
];

/// An ODK Central export: two submissions (one with needs and a photo, one
/// with missing values), and a third whose count is not a number if `bad`.
pub fn odk_zip(families_a: &str, bad: bool) -> Vec<u8> {
    odk_zip_of("GAEM-3", families_a, bad)
}

/// [`odk_zip`], the submissions made by team `team`.
pub fn odk_zip_of(team: &str, families_a: &str, bad: bool) -> Vec<u8> {
    let a = "uuid:0a1b2c3d-0000-4000-8000-00000000000a";
    let b = "uuid:0a1b2c3d-0000-4000-8000-00000000000b";
    let mut root = vec![ROOT_HEAD.to_vec()];
    root.push(vec![
        "2026-11-20T15:00:00.000Z",
        "2026-11-20T10:00:00.000-04:00",
        "2026-11-20T11:30:00.000-04:00",
        "ev-sama",
        team,
        "complementaria",
        "Ana Mamani",
        "direct_observation key_informant",
        "tarija",
        "Cercado",
        "Tomatas Grande",
        "z7",
        "Tomatas Grande",
        "-21.512",
        "-64.771",
        "2100",
        "4.5",
        families_a,
        "60",
        "0",
        "1",
        "2",
        "350.5",
        "door_to_door",
        "",
        a,
        a,
        "5",
        "tablet-gaem-3",
        "1",
        "1",
        "",
        "received",
        "collect:abc",
        "0",
        "1",
    ]);
    let second = |zone, dead, key| {
        row(
            ROOT_HEAD,
            &[
                ("SubmissionDate", "2026-11-20T16:00:00.000Z"),
                ("start", "2026-11-20T12:00:00.000-04:00"),
                ("event", "ev-sama"),
                ("team", team),
                ("edan_type", "preliminar"),
                ("zone-zone_id", zone),
                ("tally-families_affected", "3"),
                ("tally-dead", dead),
                ("meta-instanceID", key),
                ("KEY", key),
                ("SubmitterID", "5"),
                ("SubmitterName", "tablet-gaem-3"),
                ("AttachmentsPresent", "0"),
                ("AttachmentsExpected", "0"),
                ("ReviewState", "received"),
                ("DeviceID", "collect:abc"),
                ("Edits", "0"),
                ("FormVersion", "1"),
            ],
        )
    };
    root.push(second("z8", "", b));
    if bad {
        root.push(second("z9", "tres", "uuid:0a1b2c3d-0000-4000-8000-00000000000c"));
    }
    let (n1, n2, p1) = (format!("{a}/needs[1]"), format!("{a}/needs[2]"), format!("{a}/photos[1]"));
    let needs = vec![
        vec!["sector", "item", "quantity", "unit", "priority", "PARENT_KEY", "KEY"],
        vec!["agua_saneamiento_higiene", "agua segura", "900", "litros_dia", "vital", a, &n1],
        vec!["alimentos", "raciones secas", "120,5", "raciones", "alta", a, &n2],
    ];
    let photos = vec![vec!["photo", "caption", "PARENT_KEY", "KEY"], vec!["1732115000000.jpg", "techo caído", a, &p1]];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(vec![]));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [
        ("ayni_edan.csv", csv(&root)),
        ("ayni_edan-needs.csv", csv(&needs)),
        ("ayni_edan-photos.csv", csv(&photos)),
        ("media/1732115000000.jpg", jpeg(7)),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

pub fn fill(sheet: &mut rust_xlsxwriter::Worksheet, head: &[&str], rows: &[Vec<&str>]) {
    for (c, h) in head.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
    }
}

/// A KoboToolbox XLSX export (XML values and headers, `/` groups): root
/// sheet, a `needs` sheet linked by `_parent_index`.
pub fn kobo_xlsx(bad: bool) -> Vec<u8> {
    kobo_xlsx_of("GAEM-4", bad)
}

/// [`kobo_xlsx`], the submissions made by team `team`.
pub fn kobo_xlsx_of(team: &str, bad: bool) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let root = book.add_worksheet();
    root.set_name("EDAN Ayni").unwrap();
    let head = [
        "start",
        "end",
        "event",
        "team",
        "edan_type",
        "info_sources",
        "location/department",
        "zone/zone_id",
        "zone/zone_name",
        "zone/zone_geo",
        "_zone/zone_geo_latitude",
        "_zone/zone_geo_longitude",
        "_zone/zone_geo_altitude",
        "_zone/zone_geo_precision",
        "tally/families_affected",
        "tally/dead",
        "_id",
        "_uuid",
        "_submission_time",
        "_index",
    ];
    let rows: Vec<Vec<&str>> = vec![
        vec![
            "2026-11-21T09:00:00.000-04:00",
            "2026-11-21T09:40:00.000-04:00",
            "ev-sama",
            team,
            "sectorial",
            "health_post secondary_data",
            "tarija",
            "z11",
            "Pampa Redonda",
            "-21.6 -64.9 2300 5",
            "-21.6",
            "-64.9",
            "2300",
            "5",
            "7",
            "0",
            "101",
            "5b1c9e2e-1111-4000-8000-000000000001",
            "2026-11-21T14:00:00",
            "1",
        ],
        row(
            &head,
            &[
                ("start", "2026-11-21T10:00:00.000-04:00"),
                ("event", "ev-sama"),
                ("team", team),
                ("edan_type", "sectorial"),
                ("zone/zone_id", if bad { "" } else { "z12" }),
                ("tally/families_affected", "2"),
                ("_id", "102"),
                ("_uuid", "5b1c9e2e-1111-4000-8000-000000000002"),
                ("_submission_time", "2026-11-21T15:00:00"),
                ("_index", "2"),
            ],
        ),
    ];
    fill(root, &head, &rows);
    let needs = book.add_worksheet();
    needs.set_name("needs").unwrap();
    let nhead = [
        "needs/sector",
        "needs/item",
        "needs/quantity",
        "needs/unit",
        "needs/priority",
        "_index",
        "_parent_table_name",
        "_parent_index",
    ];
    fill(needs, &nhead, &[vec!["salud", "botiquín", "4", "kits", "alta", "1", "EDAN Ayni", "1"]]);
    let photos = book.add_worksheet();
    photos.set_name("photos").unwrap();
    fill(photos, &["photos/photo", "photos/caption", "_index", "_parent_index"], &[vec!["pampa.jpg", "", "1", "1"]]);
    book.save_to_buffer().unwrap()
}
