//! What a broken tree expands to: the errors, next to a placeholder of type
//! `Tree`, so that rustc does not cascade (the `let tree = ..` still has a
//! type, `tree.run()` still resolves) and rust-analyzer keeps completing.
//!
//! Every leaf expression that parsed is kept in a closure that is never
//! called: its own type errors are still reported, the variables it uses
//! are still used, and nothing runs.

use proc_macro2::TokenStream;
use quote::quote;

use super::ast::{Ast, Node};
use super::expand::{child_expr, private};

pub(crate) fn fallback(ast: &Ast, errors: TokenStream) -> TokenStream {
    let p = private();
    let mut exprs = Vec::new();
    for n in &ast.nodes {
        collect(n, &mut exprs);
    }
    quote! {
        {
            #errors
            #p::placeholder_tree(|| {
                #( let _ = #exprs; )*
            })
        }
    }
}

fn collect(node: &Node, out: &mut Vec<TokenStream>) {
    match node {
        Node::Leaf(l) => out.push(child_expr(&l.expr)),
        Node::Group(g) => {
            for c in &g.children {
                collect(c, out);
            }
        }
    }
}
