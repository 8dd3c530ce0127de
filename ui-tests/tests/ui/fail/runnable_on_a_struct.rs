use supervisor::prelude::*;

#[runnable]
struct Work;

fn main() {}
