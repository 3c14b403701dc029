import Glibc

/// Runs async code from synchronous code (the demo's status table) and waits for it.
enum Blocking {
    static func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>()
        let done = DispatchlessSemaphore()
        Task {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    private final class ResultBox<T>: @unchecked Sendable {  // written once before signal, read after wait
        var value: T?
    }
}

/// A one-shot semaphore on a pthread mutex and condition (no Dispatch, no Foundation).
final class DispatchlessSemaphore: @unchecked Sendable {  // all state behind the mutex
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var signalled = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    func signal() {
        pthread_mutex_lock(&mutex)
        signalled = true
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
    }

    func wait() {
        pthread_mutex_lock(&mutex)
        while !signalled { pthread_cond_wait(&cond, &mutex) }
        pthread_mutex_unlock(&mutex)
    }
}
