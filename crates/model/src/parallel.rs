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
    let parts = map_chunks_in_order(items, |_, chunk| chunk.iter().map(&work).collect::<Vec<R>>());
    let mut results = Vec::with_capacity(items.len());
    for part in parts {
        results.extend(part);
    }
    results
}

/// [`map_in_order`] for work that changes each item: `items.iter_mut().map(work).collect()`.
pub fn map_in_order_mut<T, R, F>(items: &mut [T], work: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(&mut T) -> R + Sync,
{
    let Some(chunk_size) = chunk_size(items.len()) else {
        return items.iter_mut().map(work).collect();
    };
    let count = items.len();
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks_mut(chunk_size)
            .map(|chunk| scope.spawn(move || chunk.iter_mut().map(work).collect::<Vec<R>>()))
            .collect();
        join_in_order(workers, count)
    })
}

/// `work` over contiguous chunks of `items`, one chunk a thread (the whole slice on the calling
/// thread when the items or the cores are too few for threads), with where each chunk starts; one
/// result a chunk, in input order. For work that gathers what a chunk makes into one value, such
/// as one list for all the chunk's items instead of a list an item.
pub fn map_chunks_in_order<T, R, F>(items: &[T], work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &[T]) -> R + Sync,
{
    let Some(chunk_size) = chunk_size(items.len()) else {
        return vec![work(0, items)];
    };
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk_size)
            .enumerate()
            .map(|(number, chunk)| scope.spawn(move || work(number * chunk_size, chunk)))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// How many items each thread takes, or `None` when the calling thread should do it all.
fn chunk_size(items: usize) -> Option<usize> {
    let threads = std::thread::available_parallelism()
        .map(|count| count.get())
        .unwrap_or(1)
        .clamp(1, MAX_THREADS);
    (threads > 1 && items >= MIN_PARALLEL_ITEMS).then(|| items.div_ceil(threads))
}

fn join_in_order<R>(workers: Vec<std::thread::ScopedJoinHandle<'_, Vec<R>>>, count: usize) -> Vec<R> {
    let mut results = Vec::with_capacity(count);
    for worker in workers {
        results.extend(worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
    }
    results
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
    fn changed_items_and_results_keep_the_input_order() {
        for count in [0, 1, 63, 64, 65, 1001] {
            let mut items: Vec<usize> = (0..count).collect();
            let before = map_in_order_mut(&mut items, |item| {
                let before = *item;
                *item *= 3;
                before
            });
            assert_eq!(before, (0..count).collect::<Vec<_>>(), "{count} items");
            assert_eq!(
                items,
                (0..count).map(|item| item * 3).collect::<Vec<_>>(),
                "{count} items"
            );
        }
    }

    #[test]
    fn chunks_cover_the_items_once_in_order_and_know_where_they_start() {
        for count in [0, 1, 63, 64, 65, 1001] {
            let items: Vec<usize> = (0..count).collect();
            let chunks = map_chunks_in_order(&items, |start, chunk| {
                assert_eq!(chunk.first().copied().unwrap_or(start), start, "{count} items");
                chunk.to_vec()
            });
            assert!(!chunks.is_empty());
            assert_eq!(chunks.concat(), items, "{count} items");
        }
    }

    #[test]
    fn a_panic_in_a_worker_reaches_the_caller() {
        let items: Vec<usize> = (0..1000).collect();
        let outcome = std::panic::catch_unwind(|| map_in_order(&items, |item| assert_ne!(*item, 999)));
        assert!(outcome.is_err());
    }
}
