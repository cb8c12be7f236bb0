//! A small, bounded element tree over `quick-xml`, with namespaces resolved to the few PSKC
//! uses. Prefixes are irrelevant: `<pskc:Key>` and `<Key xmlns="urn:…:pskc">` are the same
//! element.
//!
//! Refused: DTDs (so no entity expansion of any kind), entities other than the five predefined
//! ones and character references, more than [`MAX_DEPTH`] levels or [`MAX_ELEMENTS`] elements,
//! unbalanced or mismatched tags, anything after the root element but comments, processing
//! instructions and whitespace. Text is kept in wiped-on-drop strings (it may be a seed).

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use zeroize::Zeroizing;

/// Deepest nesting accepted (PSKC needs 8).
pub(crate) const MAX_DEPTH: usize = 32;
/// Most elements accepted in one document.
pub(crate) const MAX_ELEMENTS: usize = 500_000;

/// The namespaces PSKC files use; everything else is [`Ns::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    /// `urn:ietf:params:xml:ns:keyprov:pskc`
    Pskc,
    /// `http://www.w3.org/2001/04/xmlenc#`
    Xenc,
    /// `http://www.w3.org/2009/xmlenc11#`
    Xenc11,
    /// `http://www.w3.org/2000/09/xmldsig#`
    Ds,
    /// `http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#`
    Pkcs5,
    /// No namespace (unprefixed, no default namespace in scope).
    None,
    /// Any other namespace.
    Other,
}

impl Ns {
    fn from_uri(uri: &str) -> Self {
        match uri {
            "urn:ietf:params:xml:ns:keyprov:pskc" => Self::Pskc,
            "http://www.w3.org/2001/04/xmlenc#" => Self::Xenc,
            "http://www.w3.org/2009/xmlenc11#" => Self::Xenc11,
            "http://www.w3.org/2000/09/xmldsig#" => Self::Ds,
            "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#" => Self::Pkcs5,
            _ => Self::Other,
        }
    }
}

/// One element: its resolved name, unprefixed attributes, children and direct text.
#[derive(Debug)]
pub(crate) struct Element {
    pub(crate) ns: Ns,
    pub(crate) name: String,
    attrs: Vec<(String, String)>,
    pub(crate) children: Vec<Element>,
    text: Zeroizing<String>,
}

impl Element {
    /// Whether this element is `name` in `ns`.
    pub(crate) fn is(&self, ns: Ns, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// An unprefixed attribute (PSKC and XML-Enc attributes are unprefixed).
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Children named `name` in `ns`.
    pub(crate) fn all<'a>(&'a self, ns: Ns, name: &str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// The only child named `name` in `ns`: `Ok(None)` if absent, `Err(())` if repeated.
    pub(crate) fn one<'a>(&'a self, ns: Ns, name: &str) -> Result<Option<&'a Element>, Repeated> {
        let mut found = self.all(ns, name);
        let first = found.next();
        match found.next() {
            Some(_) => Err(Repeated),
            None => Ok(first),
        }
    }

    /// The first child with this local name, whatever its namespace (for the unqualified
    /// children of `pkcs5:PBKDF2-params`).
    pub(crate) fn any_ns(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The element's direct text, trimmed.
    pub(crate) fn text(&self) -> &str {
        self.text.trim()
    }
}

/// An element that may appear once appeared several times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Repeated;

/// Parses a whole document into its root element; `Err` holds the reason, for
/// [`super::ImportError::Format`].
pub(crate) fn parse(doc: &str) -> Result<Element, String> {
    let mut reader = NsReader::from_str(doc);
    reader.config_mut().check_comments = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let position = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("malformed XML near byte {position}: {e}"))?;
        let ns = match resolved {
            ResolveResult::Bound(uri) => Ns::from_uri(uri.as_ref()),
            ResolveResult::Unbound => Ns::None,
            ResolveResult::Unknown(prefix) => {
                return Err(format!("undeclared namespace prefix {:?}", clip(&prefix)));
            }
        };
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err("content after the root element".to_owned());
            }
            Event::Start(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err("too many or too deeply nested elements".to_owned());
                }
                stack.push(element(&reader, ns, &start)?);
            }
            Event::Empty(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err("too many or too deeply nested elements".to_owned());
                }
                let done = element(&reader, ns, &start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::End(_) => {
                // quick-xml checks that end names match their start.
                let done = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                push_text(&mut stack, &content, root.is_some())?;
            }
            Event::CData(data) => {
                push_text(&mut stack, data.as_ref(), root.is_some())?;
            }
            Event::GeneralRef(reference) => {
                let c = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => predefined_entity(reference.as_ref())?,
                    Err(e) => return Err(format!("bad character reference: {e}")),
                };
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]), root.is_some())?;
            }
            Event::DocType(_) => return Err("DTDs are not allowed".to_owned()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("the document ends before its elements are closed (truncated?)".to_owned());
    }
    root.ok_or_else(|| "no root element".to_owned())
}

fn element(reader: &NsReader<&[u8]>, ns: Ns, start: &BytesStart<'_>) -> Result<Element, String> {
    let name = start.local_name().into_inner().to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr: Attribute<'_> = attr.map_err(|e| format!("malformed attribute: {e}"))?;
        let (attr_ns, local) = reader.resolver().resolve_attribute(attr.key);
        if !matches!(attr_ns, ResolveResult::Unbound) {
            continue; // xmlns declarations and prefixed attributes: none is used by PSKC
        }
        let local = local.into_inner();
        if local == "xmlns" {
            continue;
        }
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value: {e}"))?;
        attrs.push((local.to_owned(), value.into_owned()));
    }
    Ok(Element {
        ns,
        name,
        attrs,
        children: Vec::new(),
        text: Zeroizing::new(String::new()),
    })
}

fn push_text(stack: &mut [Element], content: &str, after_root: bool) -> Result<(), String> {
    match stack.last_mut() {
        Some(current) => {
            current.text.push_str(content);
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None if after_root => Err("content after the root element".to_owned()),
        None => Err("text outside the root element".to_owned()),
    }
}

fn predefined_entity(name: &str) -> Result<char, String> {
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(format!("unknown entity &{};", clip(other))),
    }
}

/// At most 64 characters of `s`, for messages quoting the input.
pub(crate) fn clip(s: &str) -> String {
    let mut clipped: String = s.chars().take(64).collect();
    if clipped.len() < s.len() {
        clipped.push('…');
    }
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_resolve_whatever_the_prefix() {
        let prefixed = r#"<p:KeyContainer xmlns:p="urn:ietf:params:xml:ns:keyprov:pskc"
            xmlns:x="http://www.w3.org/2001/04/xmlenc#"><p:Key Id="1"><x:CipherValue>A</x:CipherValue></p:Key></p:KeyContainer>"#;
        let default = r#"<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc"
            xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><Key Id="1"><xenc:CipherValue>A</xenc:CipherValue></Key></KeyContainer>"#;
        for doc in [prefixed, default] {
            let root = parse(doc).unwrap();
            assert!(root.is(Ns::Pskc, "KeyContainer"));
            let key = root.one(Ns::Pskc, "Key").unwrap().unwrap();
            assert_eq!(key.attr("Id"), Some("1"));
            assert_eq!(key.children[0].ns, Ns::Xenc);
            assert_eq!(key.children[0].text(), "A");
        }
        let none = parse("<KeyContainer><Key/></KeyContainer>").unwrap();
        assert_eq!(none.ns, Ns::None);
        let other = parse(r#"<KeyContainer xmlns="urn:x"/>"#).unwrap();
        assert_eq!(other.ns, Ns::Other);
    }

    #[test]
    fn text_entities_cdata_and_repeats() {
        let root = parse("<a><b>x&lt;&#65;&#x42;<![CDATA[<c>]]> </b><b/></a>").unwrap();
        assert_eq!(root.children[0].text(), "x<AB<c>");
        assert_eq!(root.one(Ns::None, "b").unwrap_err(), Repeated);
        assert!(root.one(Ns::None, "c").unwrap().is_none());
    }

    #[test]
    fn refuses_what_it_must() {
        let cases = [
            ("", "no root element"),
            ("<a>", "truncated"),
            ("<a></b>", "malformed XML"),
            ("<a/><b/>", "after the root"),
            ("<a/>text", "after the root"),
            ("text<a/>", "outside the root"),
            ("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "DTDs"),
            ("<a>&x;</a>", "unknown entity"),
            ("<p:a/>", "undeclared namespace prefix"),
            ("<a b='1' b='2'/>", "malformed attribute"),
        ];
        for (doc, reason) in cases {
            let err = parse(doc).unwrap_err();
            assert!(err.contains(reason), "{doc:?}: {err}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().contains("deeply"));
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }
}
