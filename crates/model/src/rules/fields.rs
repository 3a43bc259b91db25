//! Field paths of items that lowering folds into sets or sorts, found again in the document's
//! span index so a diagnostic can name the exact item (`spec.services[1]`, `spec.uplinks[2]`).

use crate::source::{push_index, push_key, Source};

/// The items of a sequence field as `(field path, scalar text)`, in document order. Items that are
/// not scalars (mappings such as routes) come with empty text.
pub(super) fn sequence_items(source: &Source, sequence_field: &str) -> Vec<(String, String)> {
    let spans = source.spans();
    (0..)
        .map(|index| push_index(sequence_field, index))
        .take_while(|field| spans.fields.contains_key(field))
        .map(|field| {
            let text = spans.scalars.get(&field).cloned().unwrap_or_default();
            (field, text)
        })
        .collect()
}

/// The scalar text of a field, when the document has it.
pub(super) fn scalar<'a>(source: &'a Source, field: &str) -> Option<&'a str> {
    source.spans().scalars.get(field).map(String::as_str)
}

/// Whether the document spells out this field.
pub(super) fn is_present(source: &Source, field: &str) -> bool {
    source.spans().fields.contains_key(field)
}

/// The field path of a host's entry in a per-host map such as `spec.ipv4.addresses`.
pub(super) fn host_entry(map_field: &str, host: &str) -> String {
    push_key(map_field, host)
}

/// The field path of the first item of a sequence whose text parses to `wanted`, or the
/// sequence itself when none does (the locator then points at the sequence).
pub(super) fn item_matching<T, F>(source: &Source, sequence_field: &str, wanted: &T, parse: F) -> String
where
    T: PartialEq,
    F: Fn(&str) -> Option<T>,
{
    sequence_items(source, sequence_field)
        .into_iter()
        .find(|(_, text)| parse(text).as_ref() == Some(wanted))
        .map(|(field, _)| field)
        .unwrap_or_else(|| sequence_field.to_owned())
}
