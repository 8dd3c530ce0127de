//! Emits the factory function of a `#[runnable]`. Only emits.
//!
//! ```text
//! #[runnable(restart = transient)]
//! async fn db(ctx: Context, url: String) -> Result<(), E> { body }
//! ```
//! becomes
//! ```text
//! fn db(url: String) -> impl Runnable + RunnableDefaults<Restart = Transient> {
//!     async fn __supervisor_body(ctx: Context, url: String) -> Result<(), E> { body }
//!     declare::<Transient, _>(Runnable::with_defaults(
//!         move |ctx: Context| child_future(__supervisor_body(ctx, ArgClone::__clone(&url))),
//!         Defaults { restart: Some(Restart::Transient), shutdown: None, ready_on_start: false },
//!     ))
//! }
//! ```
//! (without a `restart` default: `-> impl Runnable` and no `declare`;
//! paths through `::supervisor::__private`, locals named at mixed-site).

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ItemFn};

use super::args::RunnableArgs;
use super::validate::{is_context, RunnableFn};
use crate::tree::expand::{private, private_at};
use crate::tree::model::{Restart, Shutdown};

/// Attributes that describe the factory (kept on it); every other attribute
/// (`#[tracing::instrument]`, ..) goes on the async body. Lint attributes go on both.
fn split_attrs(attrs: &[Attribute]) -> (Vec<&Attribute>, Vec<&Attribute>) {
    let mut outer = Vec::new();
    let mut inner = Vec::new();
    for a in attrs {
        let path = a.path();
        let is = |n: &str| path.is_ident(n);
        if is("doc")
            || is("cfg")
            || is("cfg_attr")
            || is("deprecated")
            || is("must_use")
            || is("inline")
        {
            outer.push(a);
        } else if is("allow") || is("warn") || is("deny") || is("expect") || is("forbid") {
            outer.push(a);
            inner.push(a);
        } else {
            inner.push(a);
        }
    }
    (outer, inner)
}

fn body_ident() -> Ident {
    Ident::new("__supervisor_body", Span::mixed_site())
}

pub(crate) fn expand(f: &RunnableFn<'_>, args: &RunnableArgs) -> TokenStream {
    let p = private();
    let item = f.item;
    let (outer_attrs, inner_attrs) = split_attrs(&item.attrs);
    let vis = &item.vis;
    let name = &item.sig.ident;
    let generics = &item.sig.generics;
    let where_clause = &generics.where_clause;
    let body_fn = body_ident();

    let arg_tys: Vec<_> = f.args.iter().map(|a| &a.ty).collect();
    // The factory's locals and the clones of the arguments sit at the
    // argument's type (so that "not `Clone`" points there), resolved at
    // mixed-site: rustc then treats them as macro output, and does not
    // offer to borrow the argument (`config: &Config`), a fix that
    // `#[runnable]` rejects. The clone names no type (`ArgClone::__clone(&arg)`),
    // so `impl Trait` arguments need no special case.
    let arg_idents: Vec<Ident> = arg_tys
        .iter()
        .enumerate()
        .map(|(i, ty)| format_ident!("__supervisor_arg{}", i, span = at_mixed_site(ty.span())))
        .collect();
    let clones = arg_idents.iter().zip(&arg_tys).map(|(id, ty)| {
        let span = at_mixed_site(ty.span());
        let p = private_at(span);
        quote_spanned!(span=> #p::ArgClone::__clone(&#id))
    });

    let mut inner_sig = item.sig.clone();
    inner_sig.ident = body_fn.clone();
    let block = &item.block;
    let ret = f.ret;
    let ctx_at_ret = Ident::new("__supervisor_ctx", ret.span());
    let ctx_span = f.ctx.ty.span();
    let p_ctx = private_at(ctx_span);
    let ctx_param = quote_spanned!(ctx_span=> #ctx_at_ret: #p_ctx::Context);
    let clones: Vec<TokenStream> = clones.collect();
    let p_ret = private_at(ret.span());
    let body_at_ret = Ident::new("__supervisor_body", ret.span());
    let call =
        quote_spanned!(ret.span()=> #p_ret::child_future(#body_at_ret(#ctx_at_ret, #(#clones),*)));

    let restart = match restart_type(args) {
        None => quote!(::core::option::Option::None),
        Some(v) => quote!(::core::option::Option::Some(#p::Restart::#v)),
    };
    let shutdown = match args.shutdown {
        None => quote!(::core::option::Option::None),
        Some(Shutdown::Timeout(d)) => {
            quote!(::core::option::Option::Some(#p::Shutdown::Timeout(#d)))
        }
        Some(Shutdown::Brutal) => quote!(::core::option::Option::Some(#p::Shutdown::Brutal)),
        Some(Shutdown::Infinity) => quote!(::core::option::Option::Some(#p::Shutdown::Infinity)),
    };
    let ready = args.ready_on_start;

    let runnable = quote! {
        #p::Runnable::with_defaults(
            move |#ctx_param| #call,
            #p::Defaults {
                restart: #restart,
                shutdown: #shutdown,
                ready_on_start: #ready,
            },
        )
    };
    let (ret, runnable) = declared(args, runnable);

    quote! {
        #(#outer_attrs)*
        #vis fn #name #generics (#(#arg_idents: #arg_tys),*) -> #ret #where_clause {
            #(#inner_attrs)*
            #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
            #inner_sig #block

            #runnable
        }
    }
}

/// The restart type of the attribute, as the name of a `Restart` variant
/// (and of the `__private` type that stands for it).
fn restart_type(args: &RunnableArgs) -> Option<TokenStream> {
    args.restart.map(|r| match r {
        Restart::Permanent => quote!(Permanent),
        Restart::Transient => quote!(Transient),
        Restart::Temporary => quote!(Temporary),
    })
}

/// The factory's return type and value. With a `restart` default, the
/// restart type is also part of the type (`impl Runnable +
/// RunnableDefaults<Restart = Temporary>`), for the checks of the trees
/// that use it: `supervision_tree!` rejects `backoff` on a child whose
/// runnable is declared `temporary`, `significant` on one declared
/// `permanent`.
fn declared(args: &RunnableArgs, runnable: TokenStream) -> (TokenStream, TokenStream) {
    let p = private();
    match restart_type(args) {
        None => (quote!(impl #p::Runnable), runnable),
        Some(k) => (
            quote!(impl #p::Runnable + #p::RunnableDefaults<Restart = #p::#k>),
            quote!(#p::declare::<#p::#k, _>(#runnable)),
        ),
    }
}

/// A broken `#[runnable]`: the errors, a factory with the same name and
/// arguments returning a placeholder runnable (so trees using it do not
/// cascade), and the user's function kept inside it so its body is still
/// checked.
pub(crate) fn fallback(item: &ItemFn, args: &RunnableArgs, errors: TokenStream) -> TokenStream {
    let p = private();
    let (outer_attrs, _) = split_attrs(&item.attrs);
    let vis = &item.vis;
    let name = &item.sig.ident;
    let generics = &item.sig.generics;
    let where_clause = &generics.where_clause;
    let has_receiver = item
        .sig
        .inputs
        .iter()
        .any(|a| matches!(a, FnArg::Receiver(_)));
    let mut typed: Vec<&syn::PatType> = item
        .sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    if typed.first().is_some_and(|t| {
        is_context(&t.ty) || matches!(&*t.ty, syn::Type::Reference(r) if is_context(&r.elem))
    }) {
        typed.remove(0);
    }
    let tys = typed.iter().map(|t| &t.ty);
    let kept = if has_receiver {
        TokenStream::new()
    } else {
        let mut copy = item.clone();
        copy.sig.ident = body_ident();
        copy.attrs.clear();
        quote!(#[allow(unused, clippy::all)] #copy)
    };
    // The same return type as the real factory, so that the trees using it
    // do not report errors about its defaults.
    let (ret, placeholder) = declared(args, quote!(#p::placeholder_runnable()));
    quote! {
        #errors
        #(#outer_attrs)*
        #[allow(unused_variables)]
        #vis fn #name #generics (#(_: #tys),*) -> #ret #where_clause {
            #kept
            #placeholder
        }
    }
}

/// `span`'s location with mixed-site resolution.
fn at_mixed_site(span: Span) -> Span {
    span.resolved_at(Span::mixed_site())
}
