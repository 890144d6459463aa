#!/usr/bin/env node
// pusher-js (Node) as a benchmark client, started by `python -m benchmarks.run`.
//
//   node benchmarks/pusher_js_client.js MODE --port P --key K [--host 127.0.0.1]
//        [--channel bench] [--events N] [--max-seconds 120]
//
// pusher-js is required from devtools/node_modules (installed by the project's set-up).
// MODE is one of (output: JSON lines on stdout, the same as benchmarks/clients.py):
//   throughput  time (wall, and process.cpuUsage() of the whole process) from just
//               before subscribing to the handler of the N-th event; each event's data
//               (decoded by pusher-js) has its seq checked: exactly once, in order.
//   latency     print {"type":"ready"} once subscribed, then record now - data.t for
//               N events (wall clock: performance.timeOrigin + performance.now()).
//   reconnect   print {"type":"subscribed","t"} at every (re)subscription and
//               {"type":"event","t","seq"} for every event, until stdin closes.
// The process always ends by itself after --max-seconds.

'use strict';

const path = require('path');

function parseArgs(argv) {
  const options = { mode: argv[0] };
  for (let i = 1; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`bad argument ${JSON.stringify(argv[i])}`);
    }
    options[argv[i].slice(2)] = argv[i + 1];
  }
  return options;
}

function emit(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

function nowSeconds() {
  return (performance.timeOrigin + performance.now()) / 1000;
}

function exitSoon(code) {
  // Let stdout drain, then go.
  process.stdout.write('', () => process.exit(code));
  setTimeout(() => process.exit(code), 1000).unref();
}

class SeqCheck {
  constructor() {
    this.expected = 0;
    this.received = 0;
    this.error = null;
  }

  feed(seq) {
    if (seq !== this.expected && this.error === null) {
      this.error = `event ${this.received}: expected seq ${this.expected}, got ${seq}`;
    }
    this.received += 1;
    this.expected = (Number.isInteger(seq) ? seq : this.expected) + 1;
    return this.received;
  }

  summary(wanted) {
    let error = this.error;
    if (error === null && this.received !== wanted) {
      error = `received ${this.received} events, expected ${wanted}`;
    }
    return { received: this.received, ok: error === null, error };
  }
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const mode = args.mode;
  const events = Number(args.events || 0);
  const channelName = args.channel || 'bench';
  const maxSeconds = Number(args['max-seconds'] || 120);
  setTimeout(() => {
    emit({ type: 'result', ok: false, error: `time limit of ${maxSeconds} s reached` });
    exitSoon(3);
  }, maxSeconds * 1000).unref();

  const Pusher = require(
    require.resolve('pusher-js', { paths: [path.join(__dirname, '..', 'devtools')] }),
  );
  const pusher = new Pusher(args.key, {
    cluster: 'mt1',
    forceTLS: false,
    wsHost: args.host || '127.0.0.1',
    wsPort: Number(args.port),
    enabledTransports: ['ws'],
    enableStats: false,
  });

  const check = new SeqCheck();
  const latencies = [];
  let cpu0 = null;
  let wall0 = 0;
  let finished = false;

  function finish(result) {
    if (finished) {
      return;
    }
    finished = true;
    emit(result);
    pusher.disconnect();
    exitSoon(0);
  }

  function throughputResult() {
    const cpu = process.cpuUsage(cpu0);
    return {
      type: 'result',
      ...check.summary(events),
      wall_s: (performance.now() - wall0) / 1000,
      cpu_s: (cpu.user + cpu.system) / 1e6,
    };
  }

  function subscribe() {
    const channel = pusher.subscribe(channelName);
    channel.bind('pusher:subscription_succeeded', () => {
      if (mode === 'latency') {
        emit({ type: 'ready' });
      } else if (mode === 'reconnect') {
        emit({ type: 'subscribed', t: nowSeconds() });
      }
    });
    channel.bind('ev', (data) => {
      if (mode === 'throughput') {
        if (check.feed(data.seq) === events) {
          finish(throughputResult());
        }
      } else if (mode === 'latency') {
        latencies.push((nowSeconds() - data.t) * 1000);
        if (check.feed(data.seq) === events) {
          finish({ type: 'result', ...check.summary(events), latencies_ms: latencies });
        }
      } else {
        emit({ type: 'event', t: nowSeconds(), seq: data.seq });
      }
    });
  }

  if (mode === 'throughput') {
    let started = false;
    pusher.connection.bind('state_change', (states) => {
      if (states.current === 'connected' && !started) {
        started = true;
        wall0 = performance.now();
        cpu0 = process.cpuUsage();
        subscribe();
      } else if (started && states.current !== 'connected') {
        finish(throughputResult()); // the blaster closed before N events arrived
      }
    });
  } else if (mode === 'latency' || mode === 'reconnect') {
    pusher.connection.bind('state_change', (states) => {
      if (mode === 'reconnect') {
        emit({ type: 'state', t: nowSeconds(), state: states.current });
      }
    });
    subscribe();
    if (mode === 'reconnect') {
      process.stdin.on('data', () => {});
      process.stdin.on('end', () => finish({ type: 'result', ok: true }));
    }
  } else {
    emit({ type: 'result', ok: false, error: `unknown mode ${mode}` });
    exitSoon(2);
  }
}

main();
