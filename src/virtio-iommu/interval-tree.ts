/**
 * A domain's mappings as QEMU 7.2 keeps them: a GLib `GTree` (an AVL tree) keyed by closed
 * intervals whose comparison calls two intervals equal when they overlap (`interval_cmp`). Which
 * mapping a lookup finds, when several overlap the key, is the first one on the search path from
 * the root, so it depends on the tree's shape: UNMAP removes overlapping mappings in that order
 * and translation's [addr, addr + 1] lookup picks by it. The shape follows GLib's insertion and
 * removal (removal replaces a node that has two children by its in-order successor), rebalanced
 * with AVL rotations, so the same sequence of requests gives QEMU's order.
 */

interface Node<V> {
  low: bigint;
  high: bigint;
  value: V;
  left: Node<V> | undefined;
  right: Node<V> | undefined;
  /** Height of the right subtree minus the left's. */
  balance: number;
}

/** -1: `a` lies before `b`; 1: after; 0: they overlap (QEMU's `interval_cmp`). */
function compare(aLow: bigint, aHigh: bigint, b: { low: bigint; high: bigint }): number {
  if (aHigh < b.low) return -1;
  if (b.high < aLow) return 1;
  return 0;
}

function rotateLeft<V>(node: Node<V>): Node<V> {
  const right = node.right!;
  node.right = right.left;
  right.left = node;
  const a = node.balance;
  const b = right.balance;
  if (b <= 0) {
    right.balance = a >= 1 ? b - 1 : a + b - 2;
    node.balance = a - 1;
  } else {
    right.balance = a <= b ? a - 2 : b - 1;
    node.balance = a - b - 1;
  }
  return right;
}

function rotateRight<V>(node: Node<V>): Node<V> {
  const left = node.left!;
  node.left = left.right;
  left.right = node;
  const a = node.balance;
  const b = left.balance;
  if (b <= 0) {
    left.balance = b > a ? b + 1 : a + 2;
    node.balance = a - b + 1;
  } else {
    left.balance = a <= -1 ? b + 1 : a + b + 2;
    node.balance = a + 1;
  }
  return left;
}

function rebalance<V>(node: Node<V>): Node<V> {
  if (node.balance < -1) {
    if (node.left!.balance > 0) node.left = rotateLeft(node.left!);
    return rotateRight(node);
  }
  if (node.balance > 1) {
    if (node.right!.balance < 0) node.right = rotateRight(node.right!);
    return rotateLeft(node);
  }
  return node;
}

/** Disjoint closed intervals with values, in a GTree's shape. */
export class IntervalTree<V> {
  #root: Node<V> | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** The first entry overlapping [low, high] on the search path (QEMU's `g_tree_lookup`). */
  lookup(low: bigint, high: bigint): { low: bigint; high: bigint; value: V } | undefined {
    let n = this.#root;
    while (n) {
      const c = compare(low, high, n);
      if (c === 0) return n;
      n = c < 0 ? n.left : n.right;
    }
    return undefined;
  }

  /** Inserts [low, high] (the caller has checked that nothing overlaps it). */
  insert(low: bigint, high: bigint, value: V): void {
    const fresh: Node<V> = { low, high, value, left: undefined, right: undefined, balance: 0 };
    this.#size++;
    if (!this.#root) {
      this.#root = fresh;
      return;
    }
    const path: (Node<V> | undefined)[] = [undefined];
    let node = this.#root;
    for (;;) {
      const c = compare(low, high, node);
      if (c < 0) {
        if (node.left) {
          path.push(node);
          node = node.left;
          continue;
        }
        node.left = fresh;
        node.balance -= 1;
        break;
      }
      if (node.right) {
        path.push(node);
        node = node.right;
        continue;
      }
      node.right = fresh;
      node.balance += 1;
      break;
    }
    // Up from the new leaf's parent until a subtree's height is unchanged.
    for (;;) {
      const parent = path.pop();
      const isLeft = parent !== undefined && parent.left === node;
      if (node.balance < -1 || node.balance > 1) {
        node = rebalance(node);
        this.#link(parent, isLeft, node);
      }
      if (node.balance === 0 || parent === undefined) break;
      parent.balance += isLeft ? -1 : 1;
      node = parent;
    }
  }

  /** Removes the entry with exactly [low, high]; false if there is none. */
  remove(low: bigint, high: bigint): boolean {
    // The path from the root, `undefined` first; its top is where rebalancing starts.
    const path: (Node<V> | undefined)[] = [undefined];
    let node = this.#root;
    for (;;) {
      if (!node) return false;
      const c = compare(low, high, node);
      if (c === 0) break;
      path.push(node);
      node = c < 0 ? node.left : node.right;
    }
    if (node.low !== low || node.high !== high) return false;
    this.#size--;
    const parent = path[path.length - 1];
    const isLeft = parent !== undefined && parent.left === node;
    if (!node.left || !node.right) {
      // A leaf or one child: the child takes its place; the parent's side got shorter.
      this.#link(parent, isLeft, node.left ?? node.right);
      if (parent) parent.balance += isLeft ? 1 : -1;
    } else {
      // Two children: the in-order successor takes its place.
      const at = path.length;
      path.push(node);
      let next = node.right;
      let nextParent = node;
      while (next.left) {
        path.push(next);
        nextParent = next;
        next = next.left;
      }
      if (nextParent !== node) {
        nextParent.left = next.right;
        nextParent.balance += 1;
        next.right = node.right;
      } else node.balance -= 1;
      next.left = node.left;
      next.balance = node.balance;
      path[at] = next;
      this.#link(parent, isLeft, next);
    }
    let b = path.pop();
    while (b) {
      const up = path.pop();
      const isLeftChild = up !== undefined && up.left === b;
      if (b.balance < -1 || b.balance > 1) {
        b = rebalance(b);
        this.#link(up, isLeftChild, b);
      }
      if (b.balance !== 0 || up === undefined) break;
      up.balance += isLeftChild ? 1 : -1;
      b = up;
    }
    return true;
  }

  /** Every entry in address order (QEMU's `g_tree_foreach`). */
  entries(): { low: bigint; high: bigint; value: V }[] {
    const out: { low: bigint; high: bigint; value: V }[] = [];
    const stack: Node<V>[] = [];
    let n = this.#root;
    while (n || stack.length) {
      while (n) {
        stack.push(n);
        n = n.left;
      }
      const top = stack.pop()!;
      out.push(top);
      n = top.right;
    }
    return out;
  }

  /** The tree's height (0 when empty), for tests of its balance. */
  height(): number {
    let max = 0;
    const stack: [Node<V>, number][] = this.#root ? [[this.#root, 1]] : [];
    while (stack.length) {
      const [n, d] = stack.pop()!;
      max = Math.max(max, d);
      if (n.left) stack.push([n.left, d + 1]);
      if (n.right) stack.push([n.right, d + 1]);
    }
    return max;
  }

  #link(parent: Node<V> | undefined, isLeft: boolean, child: Node<V> | undefined): void {
    if (!parent) this.#root = child;
    else if (isLeft) parent.left = child;
    else parent.right = child;
  }
}
