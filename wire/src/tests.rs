use super::*;

#[test]
fn keys_follow_the_spec() {
    for good in [
        "a",
        "videos/2026/clip.mp4",
        "photos",
        "photos/1.jpg",
        "名字/ファイル.txt",
        "a.b/..c/d..",
    ] {
        assert!(validate_resource_key(good).is_ok(), "{good}");
    }
    let long_segment = "x".repeat(256);
    let long_key = ["y"; 600].join("/");
    for bad in [
        "",
        "/a",
        "a//b",
        "a/",
        "./a",
        "a/../b",
        "..",
        "a\\b",
        "a\u{0}b",
        "a\u{7f}",
        "a\u{85}b",
        "\n",
        long_segment.as_str(),
        long_key.as_str(),
    ] {
        assert!(validate_resource_key(bad).is_err(), "{bad:?}");
    }
    assert!(validate_resource_key(&"x".repeat(255)).is_ok());
}

#[test]
fn md5_and_part_numbers_parse_strictly() {
    let d = parse_md5_hex("D41D8CD98F00B204E9800998ECF8427E").unwrap();
    assert_eq!(md5_to_hex(&d), "d41d8cd98f00b204e9800998ecf8427e");
    assert!(parse_md5_hex("d41d8cd98f00b204e9800998ecf8427").is_none());
    assert!(parse_md5_hex("g41d8cd98f00b204e9800998ecf8427e").is_none());
    assert_eq!(parse_part_number("10000"), Some(10000));
    assert_eq!(parse_part_number("0"), Some(0));
    for bad in ["10001", "-1", "+1", " 1", "1.0", "", "000001", "1e3"] {
        assert_eq!(parse_part_number(bad), None, "{bad}");
    }
}

#[test]
fn etag_matches_the_s3_definition() {
    // Two parts "a" and "b": md5 of their binary digests concatenated, then "-2".
    let a = parse_md5_hex("0cc175b9c0f1b6a831c399e269772661").unwrap();
    let b = parse_md5_hex("92eb5ffee6ae2fec3ad71c777531578f").unwrap();
    let mut both = a.to_vec();
    both.extend_from_slice(&b);
    let expected: [u8; 16] = Md5::digest(&both).into();
    assert_eq!(
        multipart_etag([&a, &b]),
        format!("{}-2", md5_to_hex(&expected))
    );
    // One empty part: md5 of md5(""), "-1" (what S3 answers for a one-part empty upload).
    let empty: [u8; 16] = Md5::digest(b"").into();
    assert_eq!(
        multipart_etag([&empty]),
        format!("{}-1", md5_to_hex(&Md5::digest(empty).into()))
    );
}

#[test]
fn endpoint_paths_are_spec_paths() {
    let paths: Vec<String> = Endpoint::ALL.iter().map(|e| e.path()).collect();
    assert_eq!(
        paths,
        [
            "/v1/multipart/parallel/uploadInit",
            "/v1/multipart/parallel/upload",
            "/v1/multipart/parallel/uploadComplete",
            "/v1/multipart/parallel/listParts",
            "/v1/multipart/parallel/uploadAbort",
            "/v1/multipart/parallel/listUploads",
            "/v1/multipart/parallel/signPart",
        ]
    );
}

#[test]
fn error_codes_serialize_as_their_names() {
    let body = ErrorBody {
        code: ErrorCode::NoSuchUpload,
        message: "m".into(),
        request_id: "r".into(),
    };
    let text = serde_json::to_string(&body).unwrap();
    assert_eq!(
        text,
        r#"{"code":"NoSuchUpload","message":"m","requestId":"r"}"#
    );
    assert_eq!(ErrorCode::EntityTooLarge.http_status(), 413);
    for code in ErrorCode::ALL {
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{code}\""));
        assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
    }
    assert_eq!(ErrorCode::from_name("SlowDown"), None);
}

#[test]
fn metadata_at_its_bounds_is_accepted_and_one_past_them_refused() {
    let at_bounds: Metadata = (0..4)
        .map(|i| (format!("{i}").repeat(64), "v".repeat(960)))
        .collect();
    assert_eq!(validate_metadata(&at_bounds), Ok(()));
    let mut over_total = at_bounds.clone();
    over_total.insert("x".into(), String::new());
    assert!(
        validate_metadata(&over_total)
            .unwrap_err()
            .contains("together")
    );
    let sixteen: Metadata = (0..16).map(|i| (format!("k{i}"), String::new())).collect();
    assert_eq!(validate_metadata(&sixteen), Ok(()));
    let key = Metadata::from([("a".repeat(65), String::new())]);
    assert!(validate_metadata(&key).unwrap_err().contains("keys"));
    let value = Metadata::from([("k".into(), "v".repeat(1025))]);
    assert!(validate_metadata(&value).unwrap_err().contains("1024"));
}
