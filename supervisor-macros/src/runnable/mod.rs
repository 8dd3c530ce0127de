//! `#[runnable]`: read the attribute's arguments ([`args`]), check the
//! function ([`validate`]), then [`expand`] it (or its fallback).

pub(crate) mod args;
pub(crate) mod expand;
pub(crate) mod validate;

use proc_macro2::TokenStream;

use crate::common::errors::Errors;

/// The whole attribute: tokens in, tokens out.
pub(crate) fn runnable(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let args = args::parse(attr, &errors);
    let item: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            let _ = errors.finish();
            let e = syn::Error::new(
                e.span(),
                "`#[runnable]` applies to `async fn NAME(ctx: Context, ..) -> Result<(), E>`",
            )
            .to_compile_error();
            return quote::quote!(#e #item);
        }
    };
    let checked = validate::validate(&item, &errors);
    match (checked, errors.has_errors()) {
        (Some(f), false) => {
            let _ = errors.finish();
            expand::expand(&f, &args)
        }
        _ => expand::fallback(&item, &args, errors.into_compile_errors()),
    }
}

#[cfg(test)]
mod tests;
