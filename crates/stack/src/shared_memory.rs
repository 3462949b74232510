//! What a killed PostgreSQL leaves behind besides its directory: a small System V shared
//! memory segment, which only a clean shutdown removes. Servers of test processes die by
//! SIGKILL (the parent-death signal), so without this every test run would leak one, until
//! the system's limit on segments is reached.

use std::path::Path;

/// Removes the shared memory segment recorded in `server_dir/pgdata/postmaster.pid`, if it is
/// still the one that postmaster created and nothing is attached to it any more.
pub(crate) fn release_shared_memory(server_dir: &Path) {
    let Ok(pid_file) = std::fs::read_to_string(server_dir.join("pgdata/postmaster.pid")) else {
        return;
    };
    let Ok(segments) = std::fs::read_to_string("/proc/sysvipc/shm") else {
        return;
    };
    if let Some(shmid) = abandoned_segment(&pid_file, &segments) {
        // SAFETY: IPC_RMID takes no buffer; a segment that vanished meanwhile only makes the
        // call fail, which is fine.
        let removed = unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) };
        tracing::debug!(
            shmid,
            removed = removed == 0,
            "released abandoned shared memory"
        );
    }
}

/// The id of the segment `postmaster.pid` names, when `/proc/sysvipc/shm` lists it with the
/// same key, created by that postmaster, and with nothing attached.
fn abandoned_segment(pid_file: &str, segments: &str) -> Option<libc::c_int> {
    let lines: Vec<&str> = pid_file.lines().collect();
    let postmaster: u32 = lines.first()?.trim().parse().ok()?;
    // Line 7 of postmaster.pid: "<key> <id>" of the segment.
    let mut recorded = lines.get(6)?.split_whitespace();
    let key: i64 = recorded.next()?.parse().ok()?;
    let shmid: libc::c_int = recorded.next()?.parse().ok()?;
    segments.lines().skip(1).find_map(|line| {
        // Columns: key shmid perms size cpid lpid nattch ...
        let columns: Vec<&str> = line.split_whitespace().collect();
        let number = |index: usize| columns.get(index)?.parse::<i64>().ok();
        let matches = number(0)? == key
            && number(1)? == i64::from(shmid)
            && number(4)? == i64::from(postmaster)
            && number(6)? == 0;
        matches.then_some(shmid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID_FILE: &str = "4242\n/tmp/x/pgdata\n1763771000\n5432\n\n127.0.0.1\n  \
                            9751112        23\nready   \n";
    const HEADER: &str = "       key      shmid perms                  size  cpid  lpid nattch   \
                          uid   gid  cuid  cgid      atime      dtime      ctime  rss  swap\n";

    fn segments(line: &str) -> String {
        format!("{HEADER}{line}\n")
    }

    #[test]
    fn finds_the_unattached_segment_of_the_dead_postmaster() {
        let table = segments("9751112 23 600 56 4242 4250 0 101 104 101 104 0 0 0 4096 0");
        assert_eq!(abandoned_segment(PID_FILE, &table), Some(23));
    }

    #[test]
    fn leaves_an_attached_segment() {
        let table = segments("9751112 23 600 56 4242 4250 3 101 104 101 104 0 0 0 4096 0");
        assert_eq!(abandoned_segment(PID_FILE, &table), None);
    }

    #[test]
    fn leaves_a_segment_another_process_created() {
        let table = segments("9751112 23 600 56 999 4250 0 101 104 101 104 0 0 0 4096 0");
        assert_eq!(abandoned_segment(PID_FILE, &table), None);
    }

    #[test]
    fn leaves_a_reused_id_with_another_key() {
        let table = segments("1234 23 600 56 4242 4250 0 101 104 101 104 0 0 0 4096 0");
        assert_eq!(abandoned_segment(PID_FILE, &table), None);
    }

    #[test]
    fn ignores_a_truncated_pid_file() {
        let table = segments("9751112 23 600 56 4242 4250 0 101 104 101 104 0 0 0 4096 0");
        assert_eq!(abandoned_segment("4242\n/tmp/x\n", &table), None);
    }
}
