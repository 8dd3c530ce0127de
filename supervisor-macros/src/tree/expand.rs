//! Lowers a checked [`Model`] onto the runtime builder. Only emits.
//!
//! The output is one expression of type `Tree`, made only of builder calls a
//! person could write by hand, through absolute `::supervisor::__private`
//! paths. Each user expression appears exactly once, as the argument of
//! `Child::new`, so a type error in it is reported on it.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, LitStr};

use super::ast::GroupKind;
use super::model::{
    AutoShutdown, Backoff, Common, Decay, GroupModel, Intensity, LeafModel, Model, NodeModel,
    Restart, Shutdown, Strategy,
};

/// The path generated code reaches the runtime through.
pub(crate) fn private() -> TokenStream {
    quote!(::supervisor::__private)
}

/// The same path, with every token spanned at `span` (so that an error on a
/// call through it points at the user's tokens).
pub(crate) fn private_at(span: Span) -> TokenStream {
    quote_spanned!(span=> ::supervisor::__private)
}

/// `Tree::new(Group::..(..).child(..)..)`.
pub(crate) fn expand(model: &Model) -> TokenStream {
    let p = private();
    let root = group(&model.root);
    quote!(#p::Tree::new(#root))
}

fn group(g: &GroupModel) -> TokenStream {
    let p = private();
    let name = LitStr::new(&g.name, g.span);
    let ctor = match g.kind {
        GroupKind::Sequential => quote!(sequential),
        GroupKind::Parallel => quote!(parallel),
    };
    let mut t = quote!(#p::Group::#ctor(#name));
    if let Some(s) = g.strategy {
        let v = match s {
            Strategy::OneForOne => quote!(OneForOne),
            Strategy::OneForAll => quote!(OneForAll),
            Strategy::RestForOne => quote!(RestForOne),
        };
        t.extend(quote!(.strategy(#p::Strategy::#v)));
    }
    if let Some(i) = g.intensity {
        let v = match i {
            Intensity::Limited { max, within } => quote!(#p::Intensity::new(#max, #within)),
            Intensity::Unlimited => quote!(#p::Intensity::Unlimited),
        };
        t.extend(quote!(.intensity(#v)));
    }
    if let Some(Decay {
        half_life,
        threshold,
        pause,
    }) = g.decay
    {
        let threshold = Literal::f64_suffixed(threshold);
        t.extend(quote!(.decay(#p::Decay::new(#half_life, #threshold, #pause))));
    }
    if let Some(a) = g.auto_shutdown {
        let v = match a {
            AutoShutdown::Never => quote!(Never),
            AutoShutdown::AnySignificant => quote!(AnySignificant),
            AutoShutdown::AllSignificant => quote!(AllSignificant),
        };
        t.extend(quote!(.auto_shutdown(#p::AutoShutdown::#v)));
    }
    common(&mut t, &g.common);
    for c in &g.children {
        t.extend(match c {
            NodeModel::Group(cg) => {
                let inner = group(cg);
                quote!(.group(#inner))
            }
            NodeModel::Leaf(l) => {
                let inner = leaf(l);
                quote!(.child(#inner))
            }
        });
    }
    t
}

fn leaf(l: &LeafModel) -> TokenStream {
    let p = private();
    let name = LitStr::new(&l.name, l.span);
    let expr = child_expr(&l.expr);
    let mut t = quote!(#p::Child::new(#name, #expr));
    common(&mut t, &l.common);
    if l.ready_on_start {
        t.extend(quote!(.ready_on_start()));
    }
    if let Some(d) = l.watchdog {
        t.extend(quote!(.watchdog(#d)));
    }
    t
}

/// The child expression, checked by `__private::child` on the user's own
/// tokens (one error in our words, whatever is wrong with it); a closure
/// also gets its `Context` parameter type inferred.
pub(crate) fn child_expr(expr: &Expr) -> TokenStream {
    let span = expr.span();
    let p = private_at(span);
    let value = child_value(expr);
    quote_spanned!(span=> #p::child(#value))
}

/// The user's expression; a closure goes through `__private::closure`,
/// spanned at its body, so that a future that is not `Send` is reported
/// there, with rustc's account of the value held across an `.await`.
/// (The call is wrapped in a block spanned at the whole closure, so that
/// errors about the closure itself still point at it.)
fn child_value(expr: &Expr) -> TokenStream {
    if let Expr::Closure(c) = expr {
        let span = expr.span();
        let body = c.body.span();
        let p = private_at(body);
        let f = Ident::new("__closure", span.resolved_at(Span::mixed_site()));
        let call = quote_spanned!(body=> #p::closure(#expr));
        quote_spanned!(span=> { let #f = #call; #f })
    } else {
        expr.into_token_stream()
    }
}

fn common(t: &mut TokenStream, c: &Common) {
    let p = private();
    if let Some(r) = c.restart {
        let v = match r {
            Restart::Permanent => quote!(Permanent),
            Restart::Transient => quote!(Transient),
            Restart::Temporary => quote!(Temporary),
        };
        t.extend(quote!(.restart(#p::Restart::#v)));
    }
    if let Some(b) = c.backoff {
        let v = backoff(b);
        t.extend(quote!(.backoff(#v)));
    }
    if let Some(s) = c.shutdown {
        let v = match s {
            Shutdown::Timeout(d) => quote!(#p::Shutdown::Timeout(#d)),
            Shutdown::Brutal => quote!(#p::Shutdown::Brutal),
            Shutdown::Infinity => quote!(#p::Shutdown::Infinity),
        };
        t.extend(quote!(.shutdown(#v)));
    }
    if let Some(d) = c.start_timeout {
        t.extend(quote!(.start_timeout(#d)));
    }
    if !c.after.is_empty() {
        let names = &c.after;
        t.extend(quote!(.after([#(#names),*])));
    }
    if c.significant {
        t.extend(quote!(.significant()));
    }
}

fn backoff(b: Backoff) -> TokenStream {
    let p = private();
    match b {
        Backoff::Fixed(d) => quote!(#p::Backoff::Fixed(#d)),
        Backoff::None => quote!(#p::Backoff::None),
        Backoff::Exponential {
            initial,
            max,
            multiplier,
            jitter,
        } => {
            let mut t = quote!(#p::Backoff::exponential());
            if let Some(d) = initial {
                t.extend(quote!(.initial(#d)));
            }
            if let Some(d) = max {
                t.extend(quote!(.max(#d)));
            }
            if let Some(m) = multiplier {
                let m = Literal::f64_suffixed(m);
                t.extend(quote!(.multiplier(#m)));
            }
            if let Some(j) = jitter {
                let j = Literal::f64_suffixed(j);
                t.extend(quote!(.jitter(#j)));
            }
            t
        }
    }
}
