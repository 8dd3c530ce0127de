//! `supervision_tree!`: parse ([`ast`]), read options ([`options`]), check
//! ([`validate`], [`graph`]) into a [`model`], then [`expand`] — or, when
//! anything is wrong, [`fallback`].

pub(crate) mod args;
pub(crate) mod ast;
pub(crate) mod declared;
pub(crate) mod expand;
pub(crate) mod fallback;
pub(crate) mod graph;
pub(crate) mod kw;
pub(crate) mod model;
pub(crate) mod options;
pub(crate) mod validate;

#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;

use crate::common::errors::Errors;

/// The whole macro: tokens in, tokens out.
pub(crate) fn supervision_tree(input: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let ast = ast::parse(input, &errors);
    match validate::validate(&ast, &errors) {
        Some(model) => {
            let out = expand::expand(&model);
            // `validate` returns a model only when nothing was recorded.
            let rest = errors.into_compile_errors();
            quote::quote!(#rest #out)
        }
        None => fallback::fallback(&ast, errors.into_compile_errors()),
    }
}
