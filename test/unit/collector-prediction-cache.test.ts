// The collector's prediction memo: one answer per question and model generation, bounded, and what is
// still being asked survives the bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PredictionCache } from '../../src/collector/prediction-cache';
import { predictSameNode, predictCrossNode, CALI_A, POD_A, POD_B, WEB_0 } from '../helpers/path-fixtures';

test('an answer is found again for the same question and generation, not for another question', () => {
  const c = new PredictionCache(16);
  const p = predictSameNode();
  assert.equal(c.get(1, CALI_A, POD_A, POD_B, ''), undefined);
  c.set(CALI_A, POD_A, POD_B, '', p);
  assert.equal(c.get(1, CALI_A, POD_A, POD_B, ''), p);
  assert.equal(c.get(1, '', POD_A, POD_B, ''), undefined, 'another ingress device is another question');
  assert.equal(c.get(1, CALI_A, POD_A, WEB_0, ''), undefined, 'another destination');
  assert.equal(c.get(1, CALI_A, POD_A, POD_B, '7'), undefined, 'another mark');
});

test('a new model generation forgets every answer', () => {
  const c = new PredictionCache(16);
  c.get(1, CALI_A, POD_A, POD_B, '');
  c.set(CALI_A, POD_A, POD_B, '', predictSameNode());
  assert.equal(c.get(2, CALI_A, POD_A, POD_B, ''), undefined);
  assert.equal(c.size, 0);
});

test('bounded: past the bound the least recently asked go first, the ones still asked stay', () => {
  const c = new PredictionCache(8);
  const hot = predictCrossNode();
  c.get(1, CALI_A, POD_A, WEB_0, '');
  c.set(CALI_A, POD_A, WEB_0, '', hot);
  for (let i = 0; i < 100; i++) {
    const dst = `10.233.99.${i}`;
    assert.equal(c.get(1, CALI_A, POD_A, dst, ''), undefined);
    c.set(CALI_A, POD_A, dst, '', predictSameNode(dst));
    assert.equal(c.get(1, CALI_A, POD_A, WEB_0, ''), hot, `the flow still asking keeps its answer (after ${i + 1} others)`);
    assert.ok(c.size <= 8, `at most 8 answers kept, ${c.size}`);
  }
  assert.equal(c.get(1, CALI_A, POD_A, '10.233.99.0', ''), undefined, 'an answer nobody asked for again is gone');
});
