//! Lowers a checked [`Model`] onto the runtime builder. Only emits.
//!
//! The output is one expression of type `Tree`, made only of builder calls a
//! person could write by hand, through absolute `::supervisor::__private`
//! paths. Names are literals, so nodes are made with the builder's
//! `Child::new_static` and `Group::parallel_static` / `sequential_static`,
//! which keep a name without copying it. Each user expression appears
//! exactly once, as the argument of `Child::new_static`, so a type error in
//! it is reported on it.
//!
//! When a check depends on what a `#[runnable]` declares (see
//! [`declared`](super::declared)), the leaves it needs are probed for their
//! declared restart type into `let` slots, and the checks follow the tree:
//!
//! ```text
//! {
//!     let __declared0;
//!     let __tree = Tree::new(Group::parallel_static("app")
//!         .child(Child::new_static("cleanup", {
//!             let __child = cleanup();
//!             __declared0 = (&&Probe(&__child)).__declared();   // DeclaredRestart<K>
//!             child(__child)
//!         }).backoff(..)));
//!     { trait MayRestart {..} impl<T: __private::MayRestart> MayRestart for T {} MayRestart::__check(&__declared0); }
//!     __tree
//! }
//! ```

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, LitStr};

use super::ast::GroupKind;
use super::model::{
    AutoShutdown, Backoff, Common, Decay, DeclaredCheck, DeclaredRule, GroupModel, Intensity,
    LeafModel, Model, NodeModel, Restart, Shutdown, Strategy,
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

/// `Tree::new(Group::..(..).child(..)..)`, followed by the checks on
/// declared defaults if there are any.
pub(crate) fn expand(model: &Model) -> TokenStream {
    let p = private();
    let root = group(&model.root);
    let tree = quote!(#p::Tree::new(#root));
    if model.declared_checks.is_empty() {
        return tree;
    }
    let slots = (0..model.probes).map(|i| slot(i, Span::call_site()));
    let checks = model.declared_checks.iter().map(declared_check);
    let t = Ident::new("__tree", Span::mixed_site());
    quote! {
        {
            #( let #slots; )*
            let #t = #tree;
            #( #checks )*
            #t
        }
    }
}

/// The `let` slot of probe `i`, at `at`'s location (always mixed-site, so
/// that the user's code cannot see it).
fn slot(i: usize, at: Span) -> Ident {
    format_ident!("__declared{}", i, span = at.resolved_at(Span::mixed_site()))
}

/// One check on declared defaults: a trait defined here, with the check's
/// message, implemented through one of `__private`'s property traits, and
/// asked of the probed slots. rustc reports it, on the option's tokens,
/// while it type-checks the tree.
fn declared_check(c: &DeclaredCheck) -> TokenStream {
    let span = c.span;
    let p = private_at(span);
    let one = |i: &usize| {
        let s = slot(*i, span);
        quote_spanned!(span=> #p::declared(#s))
    };
    let (name, arg) = match &c.rule {
        DeclaredRule::MayRestart(i) => ("MayRestart", one(i)),
        DeclaredRule::HasRestartDefault(i) => ("HasRestartDefault", one(i)),
        DeclaredRule::NotDeclaredPermanent(i) => ("NotDeclaredPermanent", one(i)),
        DeclaredRule::AnyMayRestart(slots) => {
            let slots = slots.iter().map(|i| slot(*i, span));
            (
                "AnyMayRestart",
                quote_spanned!(span=> #p::siblings() #(.with(#slots))*),
            )
        }
    };
    // The local trait has the name of the property, so that rustc's help
    // line reads "`MayRestart` is not implemented for `DeclaredRestart<Temporary>`".
    let local = Ident::new(name, span.resolved_at(Span::mixed_site()));
    let property = Ident::new(name, span);
    let (message, label) = (&c.message, &c.label);
    quote_spanned! {span=>
        {
            #[diagnostic::on_unimplemented(message = #message, label = #label)]
            trait #local {
                fn __check(&self) {}
            }
            #[diagnostic::do_not_recommend]
            impl<T: #p::#property> #local for T {}
            #local::__check(&#arg);
        }
    }
}

fn group(g: &GroupModel) -> TokenStream {
    let p = private();
    let name = LitStr::new(&g.name, g.span);
    let ctor = match g.kind {
        GroupKind::Sequential => quote!(sequential_static),
        GroupKind::Parallel => quote!(parallel_static),
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
    let expr = match l.probe {
        None => child_expr(&l.expr),
        Some(i) => probed_child_expr(&l.expr, &slot(i, Span::call_site())),
    };
    let mut t = quote!(#p::Child::new_static(#name, #expr));
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

/// The same, with the declared restart type of the child's value probed
/// into `slot` before it is checked and boxed.
fn probed_child_expr(expr: &Expr, slot: &Ident) -> TokenStream {
    let span = expr.span();
    let p = private_at(span);
    let value = child_value(expr);
    let child = Ident::new("__child", span.resolved_at(Span::mixed_site()));
    let pp = private();
    quote! {
        {
            let #child = #value;
            #slot = {
                #[allow(unused_imports)]
                use #pp::{ProbeDeclared as _, ProbeUndeclared as _};
                (&&#pp::Probe(&#child)).__declared()
            };
            #p::child(#child)
        }
    }
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
