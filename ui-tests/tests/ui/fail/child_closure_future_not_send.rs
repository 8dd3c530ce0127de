use supervisor::prelude::*;

fn main() {
    let _tree = supervision_tree! {
        parallel app {
            a: |ctx| async move {
                let local = std::rc::Rc::new(5);
                ctx.cancelled().await;
                let _ = &local;
                Ok::<(), std::io::Error>(())
            },
        }
    };
}
