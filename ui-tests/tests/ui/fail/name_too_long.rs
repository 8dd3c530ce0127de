use supervisor::prelude::*;

async fn work(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = supervision_tree! {
        parallel app {
            a_name_that_is_far_too_long_to_be_a_node_name_in_a_supervision_tree: work,
        }
    };
}
