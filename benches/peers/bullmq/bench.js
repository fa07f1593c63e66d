// BullMQ peer for benches/benches/trigger.rs: enqueue N no-op jobs (addBulk, batches of 1000)
// while one Worker (concurrency C) runs them; prints {"tasks_per_s": ...} for the whole run,
// from the first enqueue to the last completion. Usage: node bench.js <redis port> <N> <C>
const { Queue, Worker } = require('bullmq');

async function main() {
  const port = Number(process.argv[2] || 6379);
  const n = Number(process.argv[3] || 50000);
  const concurrency = Number(process.argv[4] || 100);
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const name = `bench-${process.pid}-${Date.now()}`;
  const queue = new Queue(name, { connection });
  let done = 0;
  let finish;
  const finished = new Promise((r) => (finish = r));
  const worker = new Worker(name, async () => {}, { connection, concurrency, autorun: true });
  worker.on('completed', () => {
    done += 1;
    if (done === n) finish();
  });
  await worker.waitUntilReady();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      jobs.push({ name: 'noop', data: {}, opts: { removeOnComplete: true, removeOnFail: true } });
    }
    await queue.addBulk(jobs);
  }
  await finished;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ tasks: n, seconds: secs, tasks_per_s: n / secs }));
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
