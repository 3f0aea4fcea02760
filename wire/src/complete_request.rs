//! uploadComplete's body (SPEC.md §3), parsed straight into [`CompleteRequest`]: part numbers as
//! JSON integers or strings of 1–5 digits, md5s in either case (normalised to lowercase), unknown
//! fields skipped without being kept, and the list refused while it is parsed once it holds more
//! entries than an upload can have parts, so no body makes the parser build more than that.
//!
//! The messages say what is wrong with a value; a parser that tracks the path (the server's)
//! prefixes them with where it is, e.g. `completeMultipartUpload[3].partNumber`.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::{CompletePart, MAX_PART_NUMBER, md5_to_hex, parse_md5_hex, parse_part_number};

/// Most entries a part list may have: one per part number, 0 to 10000. A longer list cannot be
/// strictly ascending, so it is refused while being parsed, before it costs more.
pub const MAX_LISTED_PARTS: usize = MAX_PART_NUMBER as usize + 1;

/// `POST uploadComplete` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteRequest {
    pub upload_id: String,
    pub complete_multipart_upload: Vec<CompletePart>,
}

/// The fields of the body and its entries that are read; any other is skipped.
enum Field {
    UploadId,
    Parts,
    PartNumber,
    Md5,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Field, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "uploadId" => Field::UploadId,
                    "completeMultipartUpload" => Field::Parts,
                    "partNumber" => Field::PartNumber,
                    "md5" => Field::Md5,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for CompleteRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CompleteRequest, D::Error> {
        deserializer.deserialize_map(RequestVisitor)
    }
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = CompleteRequest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object with uploadId and completeMultipartUpload")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CompleteRequest, A::Error> {
        let mut upload_id = None;
        let mut parts = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::UploadId => upload_id = Some(map.next_value::<IdText>()?.0),
                Field::Parts => parts = Some(map.next_value_seed(PartList)?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(CompleteRequest {
            upload_id: upload_id.ok_or_else(|| de::Error::custom("uploadId is missing"))?,
            complete_multipart_upload: parts
                .ok_or_else(|| de::Error::custom("completeMultipartUpload is missing"))?,
        })
    }
}

/// `uploadId`, of which at most [`ID_TEXT_BYTES`] are kept: a longer text names no upload anyway
/// (the server answers `NoSuchUpload`), and a body of one huge string is not copied.
struct IdText(String);

/// Bytes of `uploadId` kept.
const ID_TEXT_BYTES: usize = 256;

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<IdText, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = IdText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<IdText, E> {
                let mut end = text.len().min(ID_TEXT_BYTES);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                Ok(IdText(text[..end].to_owned()))
            }
        }
        deserializer.deserialize_str(IdVisitor)
    }
}

/// The list, counted as it is parsed.
struct PartList;

impl<'de> DeserializeSeed<'de> for PartList {
    type Value = Vec<CompletePart>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PartList {
    type Value = Vec<CompletePart>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of {partNumber, md5} objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut parts = Vec::new();
        while parts.len() < MAX_LISTED_PARTS {
            match seq.next_element::<ListedPart>()? {
                Some(ListedPart(part)) => parts.push(part),
                None => return Ok(parts),
            }
        }
        // One more entry is refused as soon as it starts, without reading it or the rest.
        seq.next_element_seed(NoMoreEntries)?;
        Ok(parts)
    }
}

/// Refuses any value at all: the entry past [`MAX_LISTED_PARTS`].
struct NoMoreEntries;

impl<'de> DeserializeSeed<'de> for NoMoreEntries {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(format!(
            "completeMultipartUpload lists more than {MAX_LISTED_PARTS} parts; an upload has at most one part per number from 0 to {MAX_PART_NUMBER}"
        )))
    }
}

/// One entry of the list.
struct ListedPart(CompletePart);

impl<'de> Deserialize<'de> for ListedPart {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ListedPart, D::Error> {
        deserializer.deserialize_map(ListedPartVisitor)
    }
}

struct ListedPartVisitor;

impl<'de> Visitor<'de> for ListedPartVisitor {
    type Value = ListedPart;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with partNumber and md5")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ListedPart, A::Error> {
        let mut part_number = None;
        let mut md5 = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::PartNumber => part_number = Some(map.next_value::<PartNumber>()?.0),
                Field::Md5 => md5 = Some(map.next_value::<Md5>()?.0),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ListedPart(CompletePart {
            part_number: part_number.ok_or_else(|| de::Error::custom("partNumber is missing"))?,
            md5: md5.ok_or_else(|| de::Error::custom("md5 is missing"))?,
        }))
    }
}

/// `partNumber`: a JSON integer (no fraction, no exponent) or a string of 1–5 digits, 0–10000.
struct PartNumber(u32);

impl<'de> Deserialize<'de> for PartNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PartNumber, D::Error> {
        deserializer.deserialize_any(PartNumberVisitor)
    }
}

struct PartNumberVisitor;

impl Visitor<'_> for PartNumberVisitor {
    type Value = PartNumber;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a whole number from 0 to {MAX_PART_NUMBER}, or a string of 1-5 decimal digits"
        )
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<PartNumber, E> {
        u32::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_PART_NUMBER)
            .map(PartNumber)
            .ok_or_else(|| {
                E::custom(format!(
                    "must be a whole number from 0 to {MAX_PART_NUMBER}"
                ))
            })
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<PartNumber, E> {
        u64::try_from(n)
            .map_err(|_| {
                E::custom(format!(
                    "must be a whole number from 0 to {MAX_PART_NUMBER}"
                ))
            })
            .and_then(|n| self.visit_u64(n))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<PartNumber, E> {
        Err(E::custom(
            "must be a whole number, without a fraction or an exponent",
        ))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<PartNumber, E> {
        parse_part_number(text).map(PartNumber).ok_or_else(|| {
            E::custom(format!(
                "must be 1-5 decimal digits from 0 to {MAX_PART_NUMBER}"
            ))
        })
    }
}

/// `md5`: 32 hex digits, either case; kept in lowercase.
struct Md5(String);

impl<'de> Deserialize<'de> for Md5 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Md5, D::Error> {
        struct Md5Visitor;
        impl Visitor<'_> for Md5Visitor {
            type Value = Md5;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string of 32 hex digits")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Md5, E> {
                parse_md5_hex(text)
                    .map(|digest| Md5(md5_to_hex(&digest)))
                    .ok_or_else(|| E::custom("must be 32 hex digits"))
            }
        }
        deserializer.deserialize_str(Md5Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: serde_json::Value) -> Result<CompleteRequest, String> {
        serde_json::from_value(body).map_err(|e| e.to_string())
    }

    #[test]
    fn part_numbers_are_integers_or_digit_strings_and_md5s_either_case() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let req = parse(json!({
            "uploadId": "u", "extra": {"deep": [[[1]]]},
            "completeMultipartUpload": [{"partNumber": "1", "md5": md5.to_uppercase(), "etag": 1}, {"partNumber": 5, "md5": md5}]
        }))
        .unwrap();
        assert_eq!(
            req.complete_multipart_upload[0],
            CompletePart {
                part_number: 1,
                md5: md5.into()
            }
        );
        assert_eq!(req.complete_multipart_upload[1].part_number, 5);
        for bad in [
            json!(2.5),
            json!(-1),
            json!(10001),
            json!("1e3"),
            json!(true),
        ] {
            let err = parse(json!({"uploadId": "u", "completeMultipartUpload": [{"partNumber": bad, "md5": md5}]}))
                .unwrap_err();
            assert!(err.contains("number") || err.contains("digits"), "{err}");
        }
        let err = parse(json!({"completeMultipartUpload": []})).unwrap_err();
        assert!(err.contains("uploadId"), "{err}");
        let err = parse(json!({"uploadId": "u", "completeMultipartUpload": [{"partNumber": 1}]}))
            .unwrap_err();
        assert!(err.contains("md5"), "{err}");
        assert!(parse(json!([1, 2])).is_err());
    }

    #[test]
    fn a_list_longer_than_an_upload_can_be_is_refused_at_its_first_extra_entry() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let entry = format!(r#"{{"partNumber":1,"md5":"{md5}"}}"#);
        let full = vec![entry.as_str(); MAX_LISTED_PARTS].join(",");
        let body = format!(r#"{{"uploadId":"u","completeMultipartUpload":[{full}]}}"#);
        let req: CompleteRequest = serde_json::from_str(&body).unwrap();
        assert_eq!(req.complete_multipart_upload.len(), MAX_LISTED_PARTS);
        // One more entry, then bytes that are not even JSON: the refusal comes first.
        let over = format!(
            r#"{{"uploadId":"u","completeMultipartUpload":[{full},{entry} this is not json"#
        );
        let err = serde_json::from_str::<CompleteRequest>(&over).unwrap_err();
        assert!(err.is_data(), "{err}");
        assert!(err.to_string().contains("more than 10001 parts"), "{err}");
    }
}
