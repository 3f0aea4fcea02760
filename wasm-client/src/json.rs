//! Reading JSON answers into the `partup_wire` types: the browser's `JSON.parse`, then a small
//! serde `Deserializer` over the resulting JS value.
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
