// What the Node peers of the interop tests share (pusher_js_peer.js, laravel_echo_peer.js):
// options from argv, one JSON object a line on stdout, one JSON command a line on stdin,
// the pusher-js connection's reports, and a process that always ends by itself.

'use strict';

const path = require('path');
const readline = require('readline');

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    }
    const eq = arg.indexOf('=');
    if (eq !== -1) {
      options[arg.slice(2, eq)] = arg.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) {
        throw new Error(`option ${arg} needs a value`);
      }
      options[arg.slice(2)] = argv[++i];
    }
  }
  return options;
}

function emit(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

function safe(value) {
  // Errors and pusher-js error objects, made JSON-friendly.
  try {
    if (value instanceof Error) {
      return { name: value.name, message: value.message };
    }
    return JSON.parse(JSON.stringify(value === undefined ? null : value));
  } catch (error) {
    return String(value);
  }
}

function list(value) {
  return (value || '').split(',').filter(Boolean);
}

function readConfig(build, required) {
  // The peer's configuration from argv; exits 2, saying why, when it is incomplete.
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    emit({ type: 'error', where: 'arguments', message: String(error.message || error) });
    process.exit(2);
  }
  const config = build(args);
  const missing = required.filter((name) => !config[name]);
  if (missing.length > 0) {
    emit({ type: 'error', where: 'arguments', message: `missing: ${missing.join(', ')}` });
    process.exit(2);
  }
  return config;
}

function notInstalled(name, error) {
  emit({
    type: 'error',
    where: 'require',
    message: `${name} is not installed in ${path.join(__dirname, 'node_modules')}: ${error}`,
  });
  process.exit(2);
}

function requirePusher() {
  // Resolved from devtools/node_modules, wherever the script is started from.
  try {
    return require(require.resolve('pusher-js', { paths: [__dirname] }));
  } catch (error) {
    return notInstalled('pusher-js', error);
  }
}

class Lifetime {
  // Ends the process once: says "bye" with the reason, disconnects the client, lets
  // stdout drain. The time limit is armed first, so that nothing can keep the
  // process alive forever.
  constructor(maxSeconds) {
    this.client = null;
    this.exiting = false;
    setTimeout(() => this.finish(3, 'time limit'), maxSeconds * 1000).unref();
  }

  finish(code, reason) {
    if (this.exiting) {
      return;
    }
    this.exiting = true;
    emit({ type: 'bye', reason });
    try {
      if (this.client) {
        this.client.disconnect();
      }
    } catch (error) {
      // exiting anyway
    }
    process.stdout.write('', () => process.exit(code));
    setTimeout(() => process.exit(code), 1000).unref();
  }
}

function reportConnection(pusher) {
  pusher.connection.bind('state_change', (states) => {
    emit({
      type: 'connection',
      current: states.current,
      previous: states.previous,
      socket_id: pusher.connection.socket_id || null,
    });
  });
  pusher.connection.bind('error', (error) => {
    emit({ type: 'error', where: 'connection', error: safe(error) });
  });
}

function serveCommands(commands, lifetime) {
  // One JSON command a line on stdin, {"cmd": name, ...}, to commands[name];
  // "quit" and the end of stdin end the process.
  function handle(line) {
    if (!line.trim()) {
      return;
    }
    let command;
    try {
      command = JSON.parse(line);
    } catch (error) {
      emit({ type: 'error', where: 'command', message: `not JSON: ${line}` });
      return;
    }
    if (command.cmd === 'quit') {
      lifetime.finish(0, 'quit');
    } else if (Object.prototype.hasOwnProperty.call(commands, command.cmd)) {
      commands[command.cmd](command);
    } else {
      emit({ type: 'error', where: 'command', message: `unknown command: ${line}` });
    }
  }
  const input = readline.createInterface({ input: process.stdin, terminal: false });
  input.on('line', handle);
  input.on('close', () => lifetime.finish(0, 'stdin closed'));
}

process.on('uncaughtException', (error) => {
  emit({ type: 'error', where: 'uncaught', message: String((error && error.stack) || error) });
  process.exit(1);
});

module.exports = {
  emit,
  Lifetime,
  list,
  notInstalled,
  readConfig,
  reportConnection,
  requirePusher,
  safe,
  serveCommands,
};
