//! JSON without serde_json: answers are read into the `partup_wire` types by the browser's
//! `JSON.parse` and a small serde `Deserializer` over the resulting JS value; requests are written
//! by a small serde `Serializer` ([`to_json_text`]).
//!
//! Why not `serde_json::from_str`: its parser and its error messages (which format floats) were
//! about a quarter of the `.wasm`. The browser already has a JSON parser; this deserializer only
//! walks its result, and its errors name the problem without formatting anything.
//!
//! Why not serde-wasm-bindgen, which walks JS values too: its type errors format serde's
//! `Unexpected`, which links Rust's float formatting; with it the package no longer fits its
//! 80 KB gzipped budget (README, "Size").

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde::ser::{self, Impossible, Serialize};
use wasm_bindgen::{JsCast, JsValue};

/// Why a JSON text did not fit the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError(pub String);

impl std::fmt::Display for DeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    // The message is deliberately not formatted: `T: Display` may format floats, which pulls
    // kilobytes of float-printing code into the wasm.
    fn custom<T: std::fmt::Display>(_message: T) -> Self {
        DeError("a field has the wrong value".into())
    }
    fn invalid_type(_unexpected: de::Unexpected<'_>, _expected: &dyn de::Expected) -> Self {
        DeError("a field has the wrong type".into())
    }
    fn missing_field(field: &'static str) -> Self {
        DeError(format!("field {field} is missing"))
    }
}

/// Parses `text` as JSON into `T`.
pub fn from_json_text<T: DeserializeOwned>(text: &str) -> Result<T, DeError> {
    let value = js_sys::JSON::parse(text).map_err(|_| DeError("the body is not JSON".into()))?;
    T::deserialize(JsDeserializer(value))
}

/// A serde deserializer over a value produced by `JSON.parse`.
pub struct JsDeserializer(pub JsValue);

/// Largest integer a JS number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

impl<'de> de::Deserializer<'de> for JsDeserializer {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let value = self.0;
        if let Some(text) = value.as_string() {
            visitor.visit_string(text)
        } else if let Some(flag) = value.as_bool() {
            visitor.visit_bool(flag)
        } else if let Some(n) = value.as_f64() {
            if n.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&n) {
                visitor.visit_u64(n as u64)
            } else if n.fract() == 0.0 && (-MAX_SAFE_INTEGER..0.0).contains(&n) {
                visitor.visit_i64(n as i64)
            } else {
                visitor.visit_f64(n)
            }
        } else if value.is_null() || value.is_undefined() {
            visitor.visit_unit()
        } else if js_sys::Array::is_array(&value) {
            let array: js_sys::Array = value.unchecked_into();
            visitor.visit_seq(Seq { array, next: 0 })
        } else if value.is_object() {
            let entries = js_sys::Object::entries(value.unchecked_ref());
            visitor.visit_map(Map {
                entries,
                next: 0,
                value: None,
            })
        } else {
            Err(DeError("the body holds a value JSON cannot".into()))
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() || self.0.is_undefined() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        // Only unit variants written as strings occur in the wire types (ErrorCode).
        match self.0.as_string() {
            Some(name) => visitor.visit_enum(name.into_deserializer()),
            None => Err(DeError("an enum field is not a string".into())),
        }
    }

    // What the wire types ask for is answered with the one visitor call that fits, not through
    // `deserialize_any`: its calls to every `visit_*` made each type's unused visitors
    // (`visit_seq` of every struct, `visit_u64`/`visit_bytes` of every field name…) part of the
    // `.wasm`.
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_bool(self.0.as_bool().ok_or_else(wrong_type)?)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_u64(unsigned(&self.0)?)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_string(self.0.as_string().ok_or_else(wrong_type)?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if !js_sys::Array::is_array(&self.0) {
            return Err(wrong_type());
        }
        visitor.visit_seq(Seq {
            array: self.0.unchecked_into(),
            next: 0,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if !self.0.is_object() || js_sys::Array::is_array(&self.0) {
            return Err(wrong_type());
        }
        visitor.visit_map(Map {
            entries: js_sys::Object::entries(self.0.unchecked_ref()),
            next: 0,
            value: None,
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u128 f32 f64 char
        bytes byte_buf unit unit_struct newtype_struct tuple
        tuple_struct map
    }
}

fn wrong_type() -> DeError {
    DeError("a field has the wrong type".into())
}

/// A whole number from 0 to 2^53 - 1.
fn unsigned(value: &JsValue) -> Result<u64, DeError> {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&n) => Ok(n as u64),
        _ => Err(wrong_type()),
    }
}

struct Seq {
    array: js_sys::Array,
    next: u32,
}

impl<'de> de::SeqAccess<'de> for Seq {
    type Error = DeError;
    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        if self.next >= self.array.length() {
            return Ok(None);
        }
        let item = self.array.get(self.next);
        self.next += 1;
        seed.deserialize(JsDeserializer(item)).map(Some)
    }
}

struct Map {
    entries: js_sys::Array,
    next: u32,
    value: Option<JsValue>,
}

impl<'de> de::MapAccess<'de> for Map {
    type Error = DeError;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        if self.next >= self.entries.length() {
            return Ok(None);
        }
        let entry: js_sys::Array = self.entries.get(self.next).unchecked_into();
        self.next += 1;
        self.value = Some(entry.get(1));
        seed.deserialize(JsDeserializer(entry.get(0))).map(Some)
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        let value = self.value.take().unwrap_or(JsValue::UNDEFINED);
        seed.deserialize(JsDeserializer(value))
    }
}

/// `value` as JSON text: what the client sends (requests, its localStorage entries). Not
/// `serde_json::to_string`, whose serializer and error type cost a kilobyte of the gzipped
/// package: these are structs, sequences, maps with string keys (upload metadata), strings, whole
/// numbers and booleans only, and strings
/// are escaped by the browser's `JSON.stringify`.
pub fn to_json_text<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    // Nothing in the wire types fails to serialize: a failure leaves the text cut short, which the
    // server refuses as malformed.
    let _ = value.serialize(JsonWriter(&mut out));
    out
}

struct JsonWriter<'a>(&'a mut String);

/// A `JsonWriter` inside `[…]` or `{…}`, before its first item while `first`.
struct JsonItems<'a> {
    out: &'a mut String,
    first: bool,
}

impl JsonItems<'_> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
    }
}

impl ser::Error for DeError {
    fn custom<T: std::fmt::Display>(_message: T) -> Self {
        unsupported()
    }
}

fn unsupported() -> DeError {
    DeError("a value JSON requests do not hold".into())
}

impl<'a> ser::Serializer for JsonWriter<'a> {
    type Ok = ();
    type Error = DeError;
    type SerializeSeq = JsonItems<'a>;
    type SerializeTuple = Impossible<(), DeError>;
    type SerializeTupleStruct = Impossible<(), DeError>;
    type SerializeTupleVariant = Impossible<(), DeError>;
    type SerializeMap = JsonItems<'a>;
    type SerializeStruct = JsonItems<'a>;
    type SerializeStructVariant = Impossible<(), DeError>;

    fn serialize_bool(self, v: bool) -> Result<(), DeError> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), DeError> {
        self.0.push_str(&v.to_string());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), DeError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), DeError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u8(self, v: u8) -> Result<(), DeError> {
        self.serialize_u64(v.into())
    }
    fn serialize_str(self, v: &str) -> Result<(), DeError> {
        let quoted = js_sys::JSON::stringify(&JsValue::from_str(v)).map_err(|_| unsupported())?;
        self.0.push_str(&String::from(quoted));
        Ok(())
    }
    fn serialize_none(self) -> Result<(), DeError> {
        self.0.push_str("null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), DeError> {
        value.serialize(self)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), DeError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), DeError> {
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<JsonItems<'a>, DeError> {
        self.0.push('[');
        Ok(JsonItems {
            out: self.0,
            first: true,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<JsonItems<'a>, DeError> {
        self.0.push('{');
        Ok(JsonItems {
            out: self.0,
            first: true,
        })
    }

    fn serialize_i8(self, _v: i8) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_i16(self, _v: i16) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_i32(self, _v: i32) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_i64(self, _v: i64) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_f32(self, _v: f32) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_f64(self, _v: f64) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_char(self, _v: char) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_unit(self) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), DeError> {
        Err(unsupported())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, DeError> {
        Err(unsupported())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, DeError> {
        Err(unsupported())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, DeError> {
        Err(unsupported())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<JsonItems<'a>, DeError> {
        self.0.push('{');
        Ok(JsonItems {
            out: self.0,
            first: true,
        })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, DeError> {
        Err(unsupported())
    }
}

impl ser::SerializeSeq for JsonItems<'_> {
    type Ok = ();
    type Error = DeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), DeError> {
        self.separate();
        value.serialize(JsonWriter(self.out))
    }
    fn end(self) -> Result<(), DeError> {
        self.out.push(']');
        Ok(())
    }
}

impl ser::SerializeStruct for JsonItems<'_> {
    type Ok = ();
    type Error = DeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), DeError> {
        self.separate();
        ser::Serializer::serialize_str(JsonWriter(self.out), key)?;
        self.out.push(':');
        value.serialize(JsonWriter(self.out))
    }
    fn end(self) -> Result<(), DeError> {
        self.out.push('}');
        Ok(())
    }
}

impl ser::SerializeMap for JsonItems<'_> {
    type Ok = ();
    type Error = DeError;
    /// Keys are strings (anything else writes a key JSON cannot have, which the server refuses).
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), DeError> {
        self.separate();
        key.serialize(JsonWriter(self.out))?;
        self.out.push(':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), DeError> {
        value.serialize(JsonWriter(self.out))
    }
    fn end(self) -> Result<(), DeError> {
        self.out.push('}');
        Ok(())
    }
}
