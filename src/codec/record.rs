//! The `record!` macro: your own structs and enums, in both formats.
//!
//! Article: 原理 › 序列化, and 本地调用VS远程调用, whose notes say the
//! serialization can be written by hand or taken from a tool such as
//! Protobuf. The one idea to take away: **the
//! macro writes only what you could have typed yourself**, field by field
//! in declaration order, so the layout of a record is the list of its
//! fields. It is a `macro_rules!`, not a procedural macro, so its whole
//! expansion can be read below.
//!
//! A record itself owns no heap memory beyond its fields, so it charges
//! nothing to the decode budget: its fields (a `String`, a `Vec`) charge
//! for themselves.

/// Declare a struct or enum and make it [`Encode`](crate::codec::Encode) +
/// [`Decode`](crate::codec::Decode).
///
/// Write the type exactly as you would by hand, inside `record! { ... }`.
/// Structs need named fields; enum variants may be unit (`Empty`) or have
/// named fields (`Circle { radius: f64 }`).
///
/// ```
/// minirpc::record! {
///     #[derive(Debug, Clone, PartialEq)]
///     pub struct Item { pub sku: String, pub qty: u32 }
/// }
/// minirpc::record! {
///     #[derive(Debug, PartialEq)]
///     pub enum Shape { Empty, Circle { radius: f64 } }
/// }
/// let bytes = minirpc::codec::to_bytes(&Item { sku: "A-1".into(), qty: 2 });
/// assert_eq!(bytes, [0, 0, 0, 3, b'A', b'-', b'1', 0, 0, 0, 2]);
/// let back: Item = minirpc::codec::from_bytes(&bytes, Default::default()).unwrap();
/// assert_eq!(back.qty, 2);
/// ```
///
/// There is no magic: for the struct above the macro writes exactly this
/// (plus `encode_json`/`decode_json`, which write and read
/// `{"@type":"Item","sku":"A-1","qty":2}` the same way, field by field, and
/// `declared_types`, which reports `"Item"` for the whitelist):
///
/// ```ignore
/// impl Encode for Item {
///     fn encode(&self, out: &mut Vec<u8>) {
///         self.sku.encode(out);
///         self.qty.encode(out);
///     }
/// }
/// impl Decode for Item {
///     fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
///         r.enter("Item")?;
///         let v = Item { sku: Decode::decode(r)?, qty: Decode::decode(r)? };
///         r.leave();
///         Ok(v)
///     }
/// }
/// ```
#[macro_export]
macro_rules! record {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $fty ),*
        }
        impl $crate::codec::Encode for $name {
            fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                // A buffer with no room left (a fresh `Vec`) gets room for
                // the whole record at once: one allocation, not one per
                // doubling. A record nested in one that did this finds
                // room and skips it. (Measured by `benches/codec.rs`.)
                if out.capacity() == out.len() {
                    out.reserve($crate::codec::Encode::encoded_len(self));
                }
                $( $crate::codec::Encode::encode(&self.$field, out); )*
            }
            fn encoded_len(&self) -> usize {
                0 $( + $crate::codec::Encode::encoded_len(&self.$field) )*
            }
            fn encode_json(&self, out: &mut ::std::string::String) {
                $crate::codec::json_record_start(out, stringify!($name));
                $(
                    $crate::codec::json_field_name(out, stringify!($field));
                    $crate::codec::Encode::encode_json(&self.$field, out);
                )*
                out.push('}');
            }
        }
        impl $crate::codec::Decode for $name {
            const MIN_BYTES: usize = 0 $(+ <$fty as $crate::codec::Decode>::MIN_BYTES)*;
            #[inline]
            fn decode(r: &mut $crate::codec::Reader<'_>) -> ::std::result::Result<Self, $crate::RpcError> {
                r.enter(stringify!($name))?;
                let v = $name { $( $field: $crate::codec::Decode::decode(r)? ),* };
                r.leave();
                Ok(v)
            }
            fn decode_json(
                v: &$crate::json::Json,
                cx: &$crate::codec::JsonCx<'_>,
            ) -> ::std::result::Result<Self, $crate::RpcError> {
                // The whitelist check comes first, before any field is read.
                cx.check_record(stringify!($name), v)?;
                Ok($name {
                    $( $field: $crate::codec::json_field(v, stringify!($name), stringify!($field), cx)? ),*
                })
            }
            fn declared_types(out: &mut $crate::codec::DeclaredTypes) {
                // `visit` is false the second time: that stops recursive
                // types (a Tree of Trees) from looping.
                if out.visit(stringify!($name), ::std::any::type_name::<Self>()) {
                    $( <$fty as $crate::codec::Decode>::declared_types(out); )*
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident $( { $( $field:ident : $fty:ty ),* $(,)? } )? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant $( { $( $field : $fty ),* } )? ),*
        }
        impl $crate::codec::Encode for $name {
            #[allow(unused_variables)]
            fn encoded_len(&self) -> usize {
                $(
                    if let $name::$variant $( { $( $field ),* } )? = self {
                        return 4 $( $( + $crate::codec::Encode::encoded_len($field) )* )?;
                    }
                )*
                4
            }
            #[allow(unused_assignments, unused_variables)]
            fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                // Room for the whole value at once, as for a struct.
                if out.capacity() == out.len() {
                    out.reserve($crate::codec::Encode::encoded_len(self));
                }
                // The variant index is its position in the declaration.
                let mut index: u32 = 0;
                $(
                    if let $name::$variant $( { $( $field ),* } )? = self {
                        $crate::codec::Encode::encode(&index, out);
                        $( $( $crate::codec::Encode::encode($field, out); )* )?
                        return;
                    }
                    index += 1;
                )*
            }
            #[allow(unused_variables)]
            fn encode_json(&self, out: &mut ::std::string::String) {
                // {"@type":"Shape","@variant":"Circle","radius":1.5}
                $(
                    if let $name::$variant $( { $( $field ),* } )? = self {
                        $crate::codec::json_record_start(out, stringify!($name));
                        $crate::codec::json_field_name(out, "@variant");
                        $crate::json::write_string(out, stringify!($variant));
                        $( $(
                            $crate::codec::json_field_name(out, stringify!($field));
                            $crate::codec::Encode::encode_json($field, out);
                        )* )?
                        out.push('}');
                        return;
                    }
                )*
            }
        }
        impl $crate::codec::Decode for $name {
            const MIN_BYTES: usize = 4;
            #[allow(unused_assignments)]
            fn decode(r: &mut $crate::codec::Reader<'_>) -> ::std::result::Result<Self, $crate::RpcError> {
                let wanted = <u32 as $crate::codec::Decode>::decode(r)?;
                let mut index: u32 = 0;
                $(
                    if wanted == index {
                        r.enter(stringify!($name))?;
                        let v = $name::$variant $( { $( $field: $crate::codec::Decode::decode(r)? ),* } )?;
                        r.leave();
                        return Ok(v);
                    }
                    index += 1;
                )*
                Err($crate::RpcError::invalid_argument(format!(
                    "{} has no variant number {} (it has {})", stringify!($name), wanted, index
                )))
            }
            #[allow(unused_variables)]
            fn decode_json(
                v: &$crate::json::Json,
                cx: &$crate::codec::JsonCx<'_>,
            ) -> ::std::result::Result<Self, $crate::RpcError> {
                cx.check_record(stringify!($name), v)?;
                let variant = match v.get("@variant") {
                    Some($crate::json::Json::String(s)) => s.as_str(),
                    _ => return Err($crate::RpcError::invalid_argument(format!(
                        "{} needs an \"@variant\" string naming one of its variants", stringify!($name)
                    ))),
                };
                $(
                    if variant == stringify!($variant) {
                        return Ok($name::$variant $( { $(
                            $field: $crate::codec::json_field(v, stringify!($name), stringify!($field), cx)?
                        ),* } )?);
                    }
                )*
                Err($crate::RpcError::invalid_argument(format!(
                    "{} has no variant \"{}\"", stringify!($name), variant
                )))
            }
            fn declared_types(out: &mut $crate::codec::DeclaredTypes) {
                if out.visit(stringify!($name), ::std::any::type_name::<Self>()) {
                    $( $( $( <$fty as $crate::codec::Decode>::declared_types(out); )* )? )*
                }
            }
        }
    };
}
