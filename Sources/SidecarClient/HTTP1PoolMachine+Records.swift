extension HTTP1PoolMachine {
    /// One request, from start to its one outcome; the shell's `ticket` (what to send and where
    /// the outcome goes) lives in it.
    package final class Request: DeadlineHeapItem {
        package let ticket: Ticket
        /// Its node's pool (kept while a request may still need it: see `sweep`).
        let pool: Pool
        /// When it fails with `timeout`, in nanoseconds.
        let deadline: UInt64
        var heapIndex = -1
        var connection: Connection?
        /// Sent once more already, after a kept-alive connection closed before answering.
        var resent = false
        var finished = false

        /// The node it goes to.
        package var node: Node { pool.node }

        init(ticket: Ticket, pool: Pool, deadline: UInt64) {
            self.ticket = ticket
            self.pool = pool
            self.deadline = deadline
        }
    }

    /// One connection to a node, as the decisions see it.
    final class Connection {
        enum Phase {
            /// Connecting; it fails with `connect` at `deadline`.
            case connecting(deadline: UInt64)
            /// Carrying a request.
            case busy
            /// Kept alive between requests, since `since`.
            case idle(since: UInt64)
            case closed
        }

        let id: ConnectionID
        unowned let pool: Pool
        var phase: Phase
        var request: Request?
        /// It carried an answer already (a failure before any byte of the next one may just mean
        /// the node closed it while idle).
        var reused = false

        init(id: ConnectionID, pool: Pool, phase: Phase) {
            self.id = id
            self.pool = pool
            self.phase = phase
        }
    }

    /// A node's connections: idle ones kept for reuse, and the requests waiting for one.
    final class Pool {
        let node: Node
        var idle: [Connection] = []
        var open = 0
        var waiting = Queue()

        init(node: Node) { self.node = node }

        /// Nothing open and nothing waiting: the pool may be forgotten.
        var isUnused: Bool { open == 0 && waiting.isEmpty }
    }

    /// Requests waiting in order; those that ended meanwhile are skipped on the way out.
    struct Queue {
        private var items: [Request] = []
        private var head = 0

        var isEmpty: Bool { head == items.count }

        mutating func append(_ r: Request) { items.append(r) }

        /// The oldest request that has not ended, taken out.
        mutating func next() -> Request? {
            while head < items.count {
                let r = items[head]
                head += 1
                if head == items.count {
                    items.removeAll(keepingCapacity: true)
                    head = 0
                }
                if !r.finished { return r }
            }
            return nil
        }
    }
}

/// What `DeadlineHeap` orders: a deadline, and the item's place in the heap.
protocol DeadlineHeapItem: AnyObject {
    var deadline: UInt64 { get }
    var heapIndex: Int { get set }
}

/// A min-heap by deadline that knows where each item is, so that one that ends early leaves it
/// in O(log n).
struct DeadlineHeap<Item: DeadlineHeapItem> {
    private(set) var items: [Item] = []

    var first: Item? { items.first }

    mutating func insert(_ x: Item) {
        x.heapIndex = items.count
        items.append(x)
        up(items.count - 1)
    }

    mutating func remove(_ x: Item) {
        let k = x.heapIndex
        guard k >= 0, k < items.count, items[k] === x else { return }
        x.heapIndex = -1
        let last = items.removeLast()
        guard k < items.count else { return }
        items[k] = last
        last.heapIndex = k
        down(k)
        up(k)
    }

    private mutating func up(_ start: Int) {
        var k = start
        while k > 0 {
            let parent = (k - 1) / 2
            guard items[k].deadline < items[parent].deadline else { return }
            swapAt(k, parent)
            k = parent
        }
    }

    private mutating func down(_ start: Int) {
        var k = start
        while true {
            let l = 2 * k + 1
            let r = l + 1
            var m = k
            if l < items.count && items[l].deadline < items[m].deadline { m = l }
            if r < items.count && items[r].deadline < items[m].deadline { m = r }
            guard m != k else { return }
            swapAt(k, m)
            k = m
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        items.swapAt(a, b)
        items[a].heapIndex = a
        items[b].heapIndex = b
    }
}
