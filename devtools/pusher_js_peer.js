#!/usr/bin/env node
// A pusher-js peer for interop tests: joins one presence channel and speaks line-based JSON.
//
// Usage:
//   node devtools/pusher_js_peer.js --key KEY --host 127.0.0.1 --port 6001 \
//     --auth-endpoint http://127.0.0.1:PORT/pusher/auth --user js-1 --channel presence-x \
//     [--events client-a,client-b] [--max-seconds 60]
// Every option can also come from the environment: PEER_KEY, PEER_HOST, PEER_PORT,
// PEER_AUTH_ENDPOINT, PEER_USER, PEER_CHANNEL, PEER_EVENTS, PEER_MAX_SECONDS.
//
// stdout, one JSON object a line:
//   {"type":"connection","current":"connected","previous":"connecting","socket_id":"..."}
//   {"type":"subscribed","members":[ids...],"me":id,"info":{id: user_info}}
//   {"type":"member_added","user_id":id,"user_info":...}
//   {"type":"member_removed","user_id":id,"user_info":...}
//   {"type":"event","event":name,"data":...,"user_id":metadata.user_id}   (client events)
//   {"type":"triggered","event":name,"ok":true}                           (after a trigger)
//   {"type":"error",...}
//   {"type":"bye","reason":"quit"|"stdin closed"|"time limit"}
// stdin, one JSON command a line:
//   {"cmd":"trigger","event":"client-x","data":{...}}  -> channel.trigger(event, data)
//   {"cmd":"bind","event":"client-y"}                  -> report that client event too
//   {"cmd":"quit"}                                     -> disconnect, exit 0
// It exits by itself when stdin closes, and after --max-seconds (default 60) no matter what.
//
// Client events are reported through channel.bind(name, (data, metadata) => ...) so that
// the sender's user id comes from pusher-js's own metadata. The names to bind are given by
// --events or the "bind" command; any other client-* event is still reported (through
// bind_global, which gets no metadata) with "bound": false and no user_id.

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

let exiting = false;

function finish(code, reason, pusher) {
  if (exiting) {
    return;
  }
  exiting = true;
  emit({ type: 'bye', reason });
  try {
    if (pusher) {
      pusher.disconnect();
    }
  } catch (error) {
    // exiting anyway
  }
  // Let stdout drain, then go; never linger.
  process.stdout.write('', () => process.exit(code));
  setTimeout(() => process.exit(code), 1000).unref();
}

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    emit({ type: 'error', where: 'arguments', message: String(error.message || error) });
    process.exit(2);
  }
  const env = process.env;
  const config = {
    key: args.key || env.PEER_KEY,
    host: args.host || env.PEER_HOST || '127.0.0.1',
    port: Number(args.port || env.PEER_PORT),
    authEndpoint: args['auth-endpoint'] || env.PEER_AUTH_ENDPOINT,
    user: args.user || env.PEER_USER,
    channel: args.channel || env.PEER_CHANNEL,
    events: (args.events || env.PEER_EVENTS || '').split(',').filter(Boolean),
    maxSeconds: Number(args['max-seconds'] || env.PEER_MAX_SECONDS || 60),
  };
  const missing = ['key', 'port', 'authEndpoint', 'user', 'channel'].filter(
    (name) => !config[name],
  );
  if (missing.length > 0) {
    emit({ type: 'error', where: 'arguments', message: `missing: ${missing.join(', ')}` });
    process.exit(2);
  }

  // The hard cap comes first, so that nothing below can keep the process alive forever.
  let pusher = null;
  setTimeout(() => finish(3, 'time limit', pusher), config.maxSeconds * 1000).unref();

  let Pusher;
  try {
    // Resolved from devtools/node_modules, wherever the script is started from.
    Pusher = require(require.resolve('pusher-js', { paths: [__dirname] }));
  } catch (error) {
    emit({
      type: 'error',
      where: 'require',
      message: `pusher-js is not installed in ${path.join(__dirname, 'node_modules')}: ${error}`,
    });
    process.exit(2);
  }

  pusher = new Pusher(config.key, {
    cluster: 'mt1',
    forceTLS: false,
    wsHost: config.host,
    wsPort: config.port,
    enabledTransports: ['ws'],
    enableStats: false,
    channelAuthorization: {
      endpoint: config.authEndpoint,
      transport: 'ajax',
      params: { user: config.user },
    },
  });

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

  const channel = pusher.subscribe(config.channel);
  const bound = new Set();

  function bindClientEvent(name) {
    if (bound.has(name)) {
      return;
    }
    bound.add(name);
    channel.bind(name, (data, metadata) => {
      emit({
        type: 'event',
        event: name,
        data: data === undefined ? null : data,
        user_id: metadata && metadata.user_id !== undefined ? metadata.user_id : null,
        bound: true,
      });
    });
  }
  config.events.forEach(bindClientEvent);

  channel.bind_global((name, data) => {
    if (name.startsWith('client-') && !bound.has(name)) {
      emit({ type: 'event', event: name, data: data === undefined ? null : data, bound: false });
    }
  });
  channel.bind('pusher:subscription_succeeded', (members) => {
    const ids = [];
    const info = {};
    members.each((member) => {
      ids.push(member.id);
      info[member.id] = member.info;
    });
    emit({
      type: 'subscribed',
      members: ids,
      me: members.me ? members.me.id : null,
      count: members.count,
      info,
    });
  });
  channel.bind('pusher:subscription_error', (error) => {
    emit({ type: 'error', where: 'subscription', error: safe(error) });
  });
  channel.bind('pusher:member_added', (member) => {
    emit({ type: 'member_added', user_id: member.id, user_info: member.info });
  });
  channel.bind('pusher:member_removed', (member) => {
    emit({ type: 'member_removed', user_id: member.id, user_info: member.info });
  });

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
    switch (command.cmd) {
      case 'trigger': {
        let ok = false;
        try {
          ok = channel.trigger(command.event, command.data);
        } catch (error) {
          emit({ type: 'error', where: 'trigger', message: String(error.message || error) });
          return;
        }
        emit({ type: 'triggered', event: command.event, ok: Boolean(ok) });
        return;
      }
      case 'bind':
        bindClientEvent(command.event);
        emit({ type: 'bound', event: command.event });
        return;
      case 'quit':
        finish(0, 'quit', pusher);
        return;
      default:
        emit({ type: 'error', where: 'command', message: `unknown command: ${line}` });
    }
  }

  const input = readline.createInterface({ input: process.stdin, terminal: false });
  input.on('line', handle);
  input.on('close', () => finish(0, 'stdin closed', pusher));
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

process.on('uncaughtException', (error) => {
  emit({ type: 'error', where: 'uncaught', message: String((error && error.stack) || error) });
  process.exit(1);
});

main();
