// Commas are optional after a group's `}` and after the last child; names
// are 1–64 characters of [a-z0-9_], and a leaf may be named like a keyword.
use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _no_trailing = supervision_tree! {
        parallel app {
            a: work,
            b: work
        }
    };
    let _after_brace = supervision_tree! {
        sequential app {
            parallel one {
                x: work,
            }
            parallel two {
                y: work,
            }
            last: work,
        },
    };
    let _names = supervision_tree! {
        parallel app_2 {
            _0: work,
            sequential: work,
            parallel: work,
            type_: work,
            a_name_of_exactly_sixty_four_characters_which_is_the_longest_ok: work,
        }
    };
}
