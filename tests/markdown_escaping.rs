//! Names are data, not Markdown: a plan whose names hold backticks, newlines, emphasis and HTML
//! renders, as a CommonMark parser (pulldown-cmark, the one rustdoc uses) reads it, as one code
//! block per folded group of hosts, with no emphasis, heading or HTML from the names.

mod support;

use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use support::{esxnet, repository};

#[test]
fn hostile_names_stay_inside_one_code_block() {
    let scratch = tempfile::tempdir().unwrap();
    let manifests = repository().join("tests/data/hostile-names");
    let planned = esxnet(
        scratch.path(),
        &["plan", manifests.to_str().unwrap(), "--output", "markdown"],
    );
    assert_eq!(planned.code, 0, "{}", planned.all());
    let markdown = planned.stdout;

    let mut code_blocks = Vec::new();
    let mut in_code = false;
    let mut strong_or_emphasis = Vec::new();
    let mut headings = 0;
    for event in Parser::new(&markdown) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => {
                in_code = true;
                code_blocks.push(String::new());
            }
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Text(text) if in_code => code_blocks.last_mut().unwrap().push_str(&text),
            Event::Start(Tag::Strong | Tag::Emphasis) => strong_or_emphasis.push(markdown.clone()),
            Event::Start(Tag::Heading { .. }) => headings += 1,
            Event::Html(html) | Event::InlineHtml(html) => {
                for injected in ["<b>x", "<i>", "<img", "<script"] {
                    assert!(
                        !html.contains(injected),
                        "HTML from a name reached the page: {html}\n{markdown}"
                    );
                }
            }
            _ => {}
        }
    }
    // esx-01 and esx-02 get the same changes: one folded group, one block.
    assert_eq!(code_blocks.len(), 1, "{markdown}");
    let block = &code_blocks[0];
    for name in ["v```<b>x<i>", "pg````` **LGTM** <img src=x>", "<script>x</script>"] {
        assert!(
            block.contains(name),
            "{name} is shown as written inside the block:\n{block}"
        );
    }
    // The only heading is esxnet's own; the only bold text is esxnet's own summary labels,
    // written as HTML <b> in <summary> (checked above not to come from names).
    assert_eq!(headings, 1, "{markdown}");
    assert!(
        strong_or_emphasis.is_empty(),
        "emphasis outside the code block:\n{markdown}"
    );
    assert!(!markdown.contains("\n**No changes. LGTM**"), "{markdown}");
}
