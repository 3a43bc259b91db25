//! Work that splits by host, spread over the machine's cores and joined in input order, so the
//! result is the same value whatever the number of threads.

/// The most threads one call uses: the work is memory-bound well before this.
const MAX_THREADS: usize = 8;

/// Below this many items a call runs on the calling thread: starting threads would cost more.
const MIN_PARALLEL_ITEMS: usize = 64;

/// `items.iter().map(work).collect()`, computed in contiguous chunks on up to
/// [`available_parallelism`](std::thread::available_parallelism) threads (at most 8). A panic in a
/// worker resumes on the caller.
pub fn map_in_order<T, R, F>(items: &[T], work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let threads = std::thread::available_parallelism()
        .map(|count| count.get())
        .unwrap_or(1)
        .clamp(1, MAX_THREADS);
    if threads == 1 || items.len() < MIN_PARALLEL_ITEMS {
        return items.iter().map(work).collect();
    }
    let chunk_size = items.len().div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk_size)
            .map(|chunk| scope.spawn(move || chunk.iter().map(work).collect::<Vec<R>>()))
            .collect();
        let mut results = Vec::with_capacity(items.len());
        for worker in workers {
            results.extend(worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order_on_any_number_of_items() {
        for count in [0, 1, 63, 64, 65, 1000, 1001] {
            let items: Vec<usize> = (0..count).collect();
            let doubled = map_in_order(&items, |item| item * 2);
            assert_eq!(
                doubled,
                items.iter().map(|item| item * 2).collect::<Vec<_>>(),
                "{count} items"
            );
        }
    }

    #[test]
    fn a_panic_in_a_worker_reaches_the_caller() {
        let items: Vec<usize> = (0..1000).collect();
        let outcome = std::panic::catch_unwind(|| map_in_order(&items, |item| assert_ne!(*item, 999)));
        assert!(outcome.is_err());
    }
}
