/**
 * The hooks every nock-based test file needs: no request leaves the process, no interceptor
 * outlives its test, and the network is given back when the file is done.
 */
import type { TestFn } from "ava";
import nock from "nock";

export function isolateNock(test: TestFn, eachTest: () => void = () => {}): void {
  test.before(() => nock.disableNetConnect());
  test.beforeEach(eachTest);
  test.afterEach.always(() => nock.cleanAll());
  test.after.always(() => nock.enableNetConnect());
}
