//! Checks the function under `#[runnable]`. Only checks.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, GenericParam, ItemFn, PatType, PathArguments, ReturnType, Type};

use crate::common::errors::Errors;

/// A function that `#[runnable]` can turn into a runnable factory.
pub(crate) struct RunnableFn<'a> {
    pub(crate) item: &'a ItemFn,
    /// The `ctx: Context` parameter.
    pub(crate) ctx: &'a PatType,
    /// The other parameters, cloned into each incarnation.
    pub(crate) args: Vec<&'a PatType>,
    /// `Result<(), E>`.
    pub(crate) ret: &'a Type,
}

/// Whether `ty` names `Context` (any path ending in it).
pub(crate) fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().is_some_and(|s| s.ident == "Context")
        }
        Type::Group(g) => is_context(&g.elem),
        Type::Paren(p) => is_context(&p.elem),
        _ => false,
    }
}

pub(crate) fn validate<'a>(item: &'a ItemFn, errors: &Errors) -> Option<RunnableFn<'a>> {
    let sig = &item.sig;
    let name = &sig.ident;
    let shape = "`async fn NAME(ctx: Context, ..) -> Result<(), E>`";
    if sig.asyncness.is_none() {
        errors.error(
            sig.fn_token.span,
            format!("`#[runnable]` needs an `async fn`: write `async fn {name}(..)`; it applies to {shape}"),
        );
    }
    for p in &sig.generics.params {
        if let GenericParam::Lifetime(l) = p {
            errors.error(
                l.lifetime.span(),
                "`#[runnable]` functions cannot have lifetime parameters: a child outlives the call that creates it, so its arguments must be owned (`'static`)",
            );
        }
    }
    let mut ctx = None;
    let mut args = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(r) => {
                errors.error(
                    r.self_token.span,
                    format!("`#[runnable]` functions cannot take `self`: a child runs on its own, independent of any value; make `{name}` a free function {shape} and pass what it needs as arguments"),
                );
            }
            FnArg::Typed(pt)
                if i == 0 || (i == 1 && matches!(sig.inputs.first(), Some(FnArg::Receiver(_)))) =>
            {
                if is_context(&pt.ty) {
                    ctx = Some(pt);
                } else if let Type::Reference(r) = &*pt.ty {
                    if is_context(&r.elem) {
                        errors.error_spanned(
                            &pt.ty,
                            "`#[runnable]` functions take their `Context` by value: `ctx: Context` (it is a cheap handle)",
                        );
                    } else {
                        missing_ctx(errors, pt.ty.span(), &pt.ty, shape);
                    }
                } else {
                    missing_ctx(errors, pt.ty.span(), &pt.ty, shape);
                }
            }
            FnArg::Typed(pt) => {
                if is_context(&pt.ty) {
                    errors.error_spanned(
                        &pt.ty,
                        "the `Context` must be the first parameter of a `#[runnable]` function",
                    );
                }
                if let Type::Reference(r) = &*pt.ty {
                    if r.lifetime.as_ref().is_none_or(|l| l.ident != "static") {
                        errors.error_spanned(
                            &pt.ty,
                            "arguments of a `#[runnable]` function are cloned into every incarnation and must be owned: take an owned type (`String` for `&str`, `Arc<T>` for `&T`)",
                        );
                    }
                }
                args.push(pt);
            }
        }
    }
    if sig.inputs.is_empty() {
        errors.error(
            sig.paren_token.span.join(),
            format!("`#[runnable]` functions take a `Context` first: `async fn {name}(ctx: Context, ..)`"),
        );
    }
    let ret = match &sig.output {
        ReturnType::Default => {
            errors.error(
                sig.paren_token.span.close(),
                format!("`#[runnable]` functions return `Result<(), E>`: add `-> Result<(), E>` after the parameters of `{name}`"),
            );
            None
        }
        ReturnType::Type(_, ty) => {
            if is_unit_result(ty) {
                Some(&**ty)
            } else {
                errors.error_spanned(
                    ty,
                    format!(
                        "`#[runnable]` functions return `Result<(), E>` where `E` converts into `Box<dyn Error + Send + Sync>`, found `{}`",
                        ty.to_token_stream().to_string().replace(" < ", "<").replace(" >", ">").replace("( )", "()")
                    ),
                );
                None
            }
        }
    };
    if let Some(v) = &sig.variadic {
        errors.error_spanned(v, "`#[runnable]` functions cannot be variadic");
    }
    Some(RunnableFn {
        item,
        ctx: ctx?,
        args,
        ret: ret?,
    })
}

fn missing_ctx(errors: &Errors, span: proc_macro2::Span, ty: &Type, shape: &str) {
    errors.error(
        span,
        format!(
            "the first parameter of a `#[runnable]` function must be `ctx: Context`, found `{}`; it applies to {shape}",
            ty.to_token_stream()
        ),
    );
}

/// `Result<(), E>`, `Result<()>` (an alias such as `io::Result`), any path ending in `Result`.
fn is_unit_result(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    if last.ident != "Result" {
        return false;
    }
    let PathArguments::AngleBracketed(a) = &last.arguments else {
        return false;
    };
    matches!(a.args.first(), Some(GenericArgument::Type(Type::Tuple(t))) if t.elems.is_empty())
}
