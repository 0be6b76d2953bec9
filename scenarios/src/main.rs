use multiprocessing::{current_process, parent_process, Process};

#[multiprocessing::target]
fn worker(tag: String) {
    let me = current_process();
    println!("{tag}: name={} pid={} ppid={} parent={:?}", me.name, me.pid, std::os::unix::process::parent_id(), parent_process());
}

#[multiprocessing::target]
fn boom() {
    panic!("boom");
}

fn main() {
    println!("top pid={}", std::process::id());
    multiprocessing::main_guard();
    for m in ["fork", "spawn", "forkserver"] {
        let ctx = multiprocessing::get_context(Some(m)).unwrap();
        let p = ctx.process(worker, (m.to_string(),));
        p.start().unwrap();
        p.join().unwrap();
        let q = ctx.process(boom, ());
        q.start().unwrap();
        q.join().unwrap();
        println!("{m}: exit {:?} {:?}", p.exitcode().unwrap(), q.exitcode().unwrap());
    }
}
