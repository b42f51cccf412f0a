/**
 * One-at-a-time sections for async code (the Python client's locks).
 * @module
 */

/** Runs the functions given to {@link Mutex.run} one after another, in call order. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.tail.then(section);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
