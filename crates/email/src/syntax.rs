//! What a template's text may say: variables (`{{user.name}}`,
//! `{{{link}}}`), and the blocks `if`, `unless`, `each` and `with` over a
//! variable, nested at most [`MAX_DEPTH`] deep, with `else`. Nothing else of
//! Handlebars: no partials (an inline partial that includes itself recursed
//! until the stack overflowed and the process aborted), no decorators, no
//! helpers but those four, no subexpressions or literals as arguments. A
//! template is checked when it is saved and again before every render, so
//! a template stored before these rules cannot run.

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};

use authgate_core::ToolError;

/// How deep blocks may nest.
pub const MAX_DEPTH: usize = 4;

/// The blocks a template may use.
const BLOCKS: &[&str] = &["if", "unless", "each", "with"];

/// Checks the Handlebars text at `path` (a field name for the error).
pub fn check(source: &str, path: &str) -> Result<(), ToolError> {
    let template = Template::compile(source)
        .map_err(|e| ToolError::invalid(path, format!("template error: {}", e.reason())))?;
    elements(&template, 0).map_err(|construct| {
        ToolError::invalid(path, format!("templates may not use {construct}")).with_hint(
            "use variables ({{user.name}}) and if, unless, each or with blocks over a variable, nested at most 4 deep",
        )
    })
}

/// The first construct that is not allowed, described.
fn elements(template: &Template, depth: usize) -> Result<(), String> {
    for element in &template.elements {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => variable(h)?,
            TemplateElement::HelperBlock(h) => block(h, depth)?,
            TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
                return Err("decorators ({{*...}}, inline partials)".into());
            }
            TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                return Err("partials ({{> ...}})".into());
            }
            // A construct of a later Handlebars: refused until it is known.
            _ => return Err("this construct".into()),
        }
    }
    Ok(())
}

/// `{{path}}`: a variable, not a helper call.
fn variable(h: &HelperTemplate) -> Result<(), String> {
    if !h.params.is_empty() || !h.hash.is_empty() {
        let name = h.name.as_name().unwrap_or("?");
        return Err(format!("helpers ({{{{{name} ...}}}})"));
    }
    match &h.name {
        Parameter::Name(name) if BLOCKS.contains(&name.as_str()) => {
            Err(format!("'{name}' outside a block"))
        }
        Parameter::Name(_) | Parameter::Path(_) => Ok(()),
        Parameter::Literal(_) => Err("literals in place of a variable".into()),
        Parameter::Subexpression(_) => Err("subexpressions".into()),
        _ => Err("this construct".into()),
    }
}

/// `{{#if path}}...{{else}}...{{/if}}` and its kin.
fn block(h: &HelperTemplate, depth: usize) -> Result<(), String> {
    let name = h.name.as_name().unwrap_or("?");
    if !BLOCKS.contains(&name) {
        return Err(format!("the block '{name}'"));
    }
    if depth >= MAX_DEPTH {
        return Err(format!("blocks nested more than {MAX_DEPTH} deep"));
    }
    if !h.hash.is_empty() || h.block_param.is_some() {
        return Err(format!("options or block parameters on '{name}'"));
    }
    match h.params.as_slice() {
        [Parameter::Path(_)] | [Parameter::Name(_)] => {}
        [Parameter::Subexpression(_)] => return Err("subexpressions".into()),
        _ => return Err(format!("'{name}' with anything but one variable")),
    }
    for inner in [&h.template, &h.inverse].into_iter().flatten() {
        elements(inner, depth + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(source: &str) -> String {
        check(source, "content").expect_err(source).message
    }

    #[test]
    fn variables_and_shallow_blocks_are_allowed() {
        for ok in [
            "Hello {{user.name}}, {{{link}}}",
            "{{#if user.name}}Hi {{user.name}}{{else}}Hi{{/if}}",
            "{{#with user}}{{#unless name}}{{email}}{{/unless}}{{/with}}",
            "{{#each items}}{{#if this}}{{this}}{{/if}}{{/each}}",
            "{{! a comment }} {{~user.name~}}",
        ] {
            assert!(check(ok, "content").is_ok(), "{ok}");
        }
    }

    #[test]
    fn partials_decorators_helpers_and_deep_nesting_are_refused() {
        assert!(refused(r#"{{#*inline "a"}}{{> a}}{{/inline}}{{> a}}"#).contains("decorators"));
        assert!(refused("{{> header}}").contains("partials"));
        assert!(refused("{{#> layout}}x{{/layout}}").contains("partials"));
        assert!(refused("{{lookup user 'name'}}").contains("helpers"));
        assert!(refused("{{log user}}").contains("helpers"));
        assert!(refused("{{#if (eq a b)}}x{{/if}}").contains("subexpressions"));
        assert!(refused("{{#raw}}x{{/raw}}").contains("the block 'raw'"));
        assert!(refused("{{#each items as |i|}}{{i}}{{/each}}").contains("block parameters"));
        assert!(refused("{{#if 'x'}}x{{/if}}").contains("one variable"));
        let deep = "{{#with a}}".repeat(5) + &"{{/with}}".repeat(5);
        assert!(refused(&deep).contains("nested more than 4"));
        let ok = "{{#with a}}".repeat(4) + &"{{/with}}".repeat(4);
        assert!(check(&ok, "content").is_ok());
        assert!(refused("{{#if}}x{{/if}}").contains("one variable"));
        assert!(refused("{{user.name").contains("template error"));
    }
}
