//! The tree as the user wrote it, every token's span kept.
//!
//! Parsing never gives up on the whole invocation: a syntax error inside a
//! child is recorded and parsing resumes after the next `,`, so that every
//! independent error is reported in one compile.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::{braced, bracketed, parenthesized, Expr, Ident, Token};

use super::kw;
use crate::common::errors::{suggestion, Errors};
use crate::common::spanned::Sp;
use crate::common::value::Value;

/// The whole invocation.
pub(crate) struct Ast {
    /// Top-level nodes; a well-formed tree has exactly one, a group.
    pub(crate) nodes: Vec<Node>,
}

/// A group or a leaf.
pub(crate) enum Node {
    Group(GroupAst),
    Leaf(LeafAst),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum GroupKind {
    Sequential,
    Parallel,
}

/// `#[opts] sequential NAME { children }`.
pub(crate) struct GroupAst {
    pub(crate) attrs: Vec<RawOption>,
    /// `None` when the keyword was misspelt (already reported).
    pub(crate) kind: Option<Sp<GroupKind>>,
    pub(crate) name: Ident,
    pub(crate) children: Vec<Node>,
}

/// `#[opts] NAME: EXPR`.
pub(crate) struct LeafAst {
    pub(crate) attrs: Vec<RawOption>,
    pub(crate) name: Ident,
    pub(crate) expr: Expr,
}

/// One option of an attribute: `restart(transient)`, `backoff(fixed = 1s)`.
pub(crate) struct RawOption {
    pub(crate) name: Ident,
    pub(crate) args: Option<RawArgs>,
}

/// The parenthesized arguments of an option.
pub(crate) struct RawArgs {
    pub(crate) span: Span,
    pub(crate) args: Vec<RawArg>,
}

/// `key = value` or a bare value.
pub(crate) enum RawArg {
    Key(Ident, Value),
    Value(Value),
}

impl Node {
    pub(crate) fn name(&self) -> &Ident {
        match self {
            Node::Group(g) => &g.name,
            Node::Leaf(l) => &l.name,
        }
    }
}

/// Parses a `supervision_tree!` invocation, recording syntax errors in `errors`.
pub(crate) fn parse(tokens: TokenStream, errors: &Errors) -> Ast {
    let parser = |input: ParseStream| Ok(parse_nodes(input, errors));
    match parser.parse2(tokens) {
        Ok(nodes) => Ast { nodes },
        Err(e) => {
            errors.push(e);
            Ast { nodes: Vec::new() }
        }
    }
}

/// Children separated by `,` (optional after a group's `}` and at the end).
/// Never fails and always consumes `input`.
fn parse_nodes(input: ParseStream, errors: &Errors) -> Vec<Node> {
    let mut nodes = Vec::new();
    while !input.is_empty() {
        // Parse on a fork: a syntax error deep inside an expression must not
        // leave syn's "unexpected token" state behind on `input`.
        let fork = input.fork();
        let parsed = parse_node(&fork, errors);
        if parsed.is_ok() {
            input.advance_to(&fork);
        }
        match parsed {
            Ok(node) => {
                let after_brace = matches!(node, Node::Group(_));
                let name = node.name().to_string();
                nodes.push(node);
                if input.is_empty() {
                    break;
                }
                if input.peek(Token![,]) {
                    let _ = input.parse::<Token![,]>();
                    continue;
                }
                if after_brace {
                    continue;
                }
                errors.error(
                    input.span(),
                    format!("expected `,` after child `{name}`: children are separated by commas"),
                );
                // Resume here if what follows reads as a child, else at the next comma.
                let fork = input.fork();
                let probe = Errors::new();
                let ok = parse_node(&fork, &probe).is_ok();
                let _ = probe.finish();
                if !ok {
                    skip_past_comma(input);
                }
            }
            Err(e) => {
                errors.push(e);
                skip_past_comma(input);
            }
        }
    }
    nodes
}

fn skip_past_comma(input: ParseStream) {
    while !input.is_empty() && !input.peek(Token![,]) {
        let _ = input.parse::<TokenTree>();
    }
    let _ = input.parse::<Option<Token![,]>>();
}

fn drain(input: ParseStream) {
    while !input.is_empty() {
        let _ = input.parse::<TokenTree>();
    }
}

fn parse_node(input: ParseStream, errors: &Errors) -> syn::Result<Node> {
    let attrs = parse_attrs(input, errors)?;
    if input.is_empty() {
        return Err(input.error("expected a child after its options"));
    }
    if input.peek(Ident::peek_any) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
        let name = Ident::parse_any(input)?;
        input.parse::<Token![:]>()?;
        if input.is_empty() || input.peek(Token![,]) {
            return Err(input.error(format!(
                "expected an expression after `{name}:`, such as `{name}: my_task()`"
            )));
        }
        let expr: Expr = input.parse()?;
        return Ok(Node::Leaf(LeafAst { attrs, name, expr }));
    }
    if input.peek(Ident::peek_any) && input.peek2(Ident::peek_any) {
        let kw = Ident::parse_any(input)?;
        let name = Ident::parse_any(input)?;
        let kind = match kw.to_string().as_str() {
            "sequential" => Some(Sp::new(GroupKind::Sequential, kw.span())),
            "parallel" => Some(Sp::new(GroupKind::Parallel, kw.span())),
            other => {
                errors.error(
                    kw.span(),
                    format!(
                        "unknown keyword `{other}`{}; a group is `sequential {name} {{ .. }}` or `parallel {name} {{ .. }}`",
                        suggestion(other, kw::GROUP_KINDS.iter().copied())
                    ),
                );
                None
            }
        };
        if !input.peek(syn::token::Brace) {
            return Err(input.error(format!("expected `{{` after the group name `{name}`")));
        }
        let content;
        braced!(content in input);
        let children = parse_nodes(&content, errors);
        return Ok(Node::Group(GroupAst {
            attrs,
            kind,
            name,
            children,
        }));
    }
    if input.peek(Ident::peek_any) && input.peek2(syn::token::Brace) {
        let word = Ident::parse_any(input)?;
        let w = word.to_string();
        if kw::GROUP_KINDS.contains(&w.as_str()) {
            return Err(syn::Error::new(
                word.span(),
                format!("expected a name after `{w}`: `{w} NAME {{ .. }}`"),
            ));
        }
        return Err(syn::Error::new(
            word.span(),
            format!("expected `sequential` or `parallel` before the group name: `sequential {w} {{ .. }}` or `parallel {w} {{ .. }}`"),
        ));
    }
    if input.peek(Ident::peek_any) && input.peek2(Token![=]) {
        let name = Ident::parse_any(input)?;
        return Err(syn::Error::new(
            input.span(),
            format!("expected `:` after the child name `{name}`, as in `{name}: my_task()`"),
        ));
    }
    if input.peek(Ident::peek_any) {
        let word = Ident::parse_any(input)?;
        return Err(syn::Error::new(
            word.span(),
            format!("expected `:` after the child name `{word}`, or a group `sequential NAME {{ .. }}` / `parallel NAME {{ .. }}`"),
        ));
    }
    Err(input.error(
        "expected a child `name: expression` or a group `sequential name { .. }` / `parallel name { .. }`",
    ))
}

/// `#[a(..), b(..)] #[c]` before a node.
fn parse_attrs(input: ParseStream, errors: &Errors) -> syn::Result<Vec<RawOption>> {
    let mut out = Vec::new();
    while input.peek(Token![#]) {
        let pound: Token![#] = input.parse()?;
        if input.peek(Token![!]) {
            return Err(syn::Error::new(
                pound.span,
                "inner attributes are not options: write `#[..]` before the group or child",
            ));
        }
        if !input.peek(syn::token::Bracket) {
            return Err(input.error("expected `[` after `#`"));
        }
        let content;
        bracketed!(content in input);
        parse_option_list(&content, errors, &mut out);
    }
    Ok(out)
}

/// `a(..), b(..)` inside one attribute. Never fails; consumes `input`.
fn parse_option_list(input: ParseStream, errors: &Errors, out: &mut Vec<RawOption>) {
    if input.is_empty() {
        errors.error(
            input.span(),
            "empty attribute: expected an option such as `restart(transient)`",
        );
    }
    while !input.is_empty() {
        match parse_option(input) {
            Ok(opt) => {
                out.push(opt);
                if input.is_empty() {
                    break;
                }
                if input.peek(Token![,]) {
                    let _ = input.parse::<Token![,]>();
                } else {
                    errors.error(input.span(), "expected `,` between options");
                    if !input.peek(Ident::peek_any) {
                        skip_past_comma(input);
                    }
                }
            }
            Err(e) => {
                errors.push(e);
                skip_past_comma(input);
            }
        }
    }
}

fn parse_option(input: ParseStream) -> syn::Result<RawOption> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error("expected an option such as `restart(transient)`"));
    }
    let name = Ident::parse_any(input)?;
    if input.peek(Token![=]) {
        let n = name.to_string();
        return Err(syn::Error::new(
            input.span(),
            format!("options take their values in parentheses: `{n}(..)`, not `{n} = ..`"),
        ));
    }
    if !input.peek(syn::token::Paren) {
        return Ok(RawOption { name, args: None });
    }
    let content;
    let paren = parenthesized!(content in input);
    let args = parse_args(&content);
    drain(&content);
    Ok(RawOption {
        name,
        args: Some(RawArgs {
            span: paren.span.join(),
            args: args?,
        }),
    })
}

/// `key = value, word, 10s` inside an option's parentheses.
fn parse_args(input: ParseStream) -> syn::Result<Vec<RawArg>> {
    let mut args = Vec::new();
    while !input.is_empty() {
        let arg = if input.peek(Ident::peek_any) && input.peek2(Token![=]) {
            let key = Ident::parse_any(input)?;
            let eq: Token![=] = input.parse()?;
            if input.is_empty() || input.peek(Token![,]) {
                return Err(syn::Error::new(
                    eq.span,
                    format!("expected a value after `{key} =`"),
                ));
            }
            if !Value::peek(input) {
                return Err(input.error(format!("expected a value after `{key} =`")));
            }
            RawArg::Key(key, Value::parse(input)?)
        } else if Value::peek(input) {
            RawArg::Value(Value::parse(input)?)
        } else {
            return Err(input.error("expected a value or `key = value`"));
        };
        let unitless = match &arg {
            RawArg::Key(_, Value::Lit(syn::Lit::Int(i)))
            | RawArg::Value(Value::Lit(syn::Lit::Int(i))) => {
                i.suffix().is_empty().then(|| i.base10_digits().to_owned())
            }
            _ => None,
        };
        args.push(arg);
        if input.is_empty() {
            break;
        }
        if input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            continue;
        }
        if let (Some(n), true) = (unitless, input.peek(Ident::peek_any)) {
            let unit = Ident::parse_any(input)?;
            return Err(syn::Error::new(
                unit.span(),
                format!("write the unit right after the number, without a space: `{n}{unit}`"),
            ));
        }
        return Err(input.error("expected `,` between arguments"));
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(src: &str) -> Vec<(usize, usize, String)> {
        let errors = Errors::new();
        let _ = parse(src.parse().unwrap(), &errors);
        errors.take_messages()
    }

    #[test]
    fn well_formed_tree_parses() {
        let errors = Errors::new();
        let ast = parse(
            "#[strategy(rest_for_one)] sequential app { db: database(url), \
             #[restart(transient), shutdown(timeout = 5s)] m: migrate(), \
             parallel web { http: http_server(8080) } last: |ctx: Context| async move { Ok(()) } }"
                .parse()
                .unwrap(),
            &errors,
        );
        assert!(errors.take_messages().is_empty());
        assert_eq!(ast.nodes.len(), 1);
        let Node::Group(g) = &ast.nodes[0] else {
            panic!()
        };
        assert_eq!(g.children.len(), 4);
        assert_eq!(g.attrs.len(), 1);
        let Node::Leaf(m) = &g.children[1] else {
            panic!()
        };
        assert_eq!(m.attrs.len(), 2);
    }

    #[test]
    fn missing_comma_is_reported_on_the_next_token() {
        let e = errs("sequential app {\n    a: foo()\n    b: bar(),\n}");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].0, e[0].1), (3, 4));
        assert!(e[0].2.contains("expected `,` after child `a`"), "{e:?}");
    }

    #[test]
    fn recovers_at_the_next_comma() {
        let e =
            errs("sequential app {\n    a: foo(,),\n    paralel web { x: y() },\n    c = 1,\n}");
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(e[0].0, 2);
        assert_eq!((e[1].0, e[1].1), (3, 4));
        assert!(e[1].2.contains("did you mean `parallel`"), "{e:?}");
        assert_eq!((e[2].0, e[2].1), (4, 6));
    }

    #[test]
    fn unit_separated_by_space() {
        let e = errs("sequential app {\n  #[intensity(max = 1, within = 10 s)]\n  a: foo(),\n}");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].0, e[0].1), (2, 35));
        assert!(e[0].2.contains("`10s`"), "{e:?}");
    }
}
