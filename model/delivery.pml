/*
 * backchannel: delivery and the transcript, one direction (A sends, B receives and
 * acknowledges), checked exhaustively by spin.  docs/protocol.md ("The model checked
 * by machine") says what it covers and what it abstracts away.
 *
 * Envelope:  its seq, the item it carries, its id (its bytes: each encryption gives
 *            new ones) and the id of the envelope before it (prev_hash).
 * Ack:       the cumulative seq and the id of the envelope processed there (its head).
 * Network:   three slots; what is in them is delivered in any order, lost or
 *            duplicated (both bounded).
 * Faults:    either side crashes at any step, losing what it had not persisted, and
 *            restarts; either side's storage is put back to a copy taken earlier.
 */

#ifndef ITEMS
#define ITEMS 3        /* items the officers at A send */
#endif
#ifndef CRASHES
#define CRASHES 1      /* crashes of each side */
#endif
#ifndef ROLLBACK_A
#define ROLLBACK_A 1   /* A's storage put back once */
#endif
#ifndef ROLLBACK_B
#define ROLLBACK_B 1   /* B's storage put back once */
#endif
#ifndef LOSSES
#define LOSSES 2
#endif
#ifndef DUPLICATES
#define DUPLICATES 1
#endif
#ifndef WRITE_AHEAD
#define WRITE_AHEAD 1  /* 0: an envelope leaves before it is persisted (the bug it prevents) */
#endif
#ifndef HEADS
#define HEADS 1        /* 0: no heads comparison after a start (the bug it prevents) */
#endif
#ifndef HELD_FORK
#define HELD_FORK 1    /* 0: another envelope at a held seq is dropped (the bug it found) */
#endif
#define HOLD 2         /* early envelopes B holds */
#define TOP (ITEMS + 1)

#define NONE 0
#define ENV 1
#define ACK 2

typedef Msg { byte kind; byte seq; byte item; byte id; byte prev };
Msg net[3];

/* A, durable; and the copy its storage may be put back to */
byte a_sent, a_items, a_acked; byte a_out[TOP + 1];
byte sa_sent, sa_items, sa_acked; byte sa_out[TOP + 1]; bool a_saved;

/* B, durable: processed in order up to b_done, and what it holds early; and its copy */
byte b_done; byte b_log[TOP + 1]; byte b_item[TOP + 1];
byte h_seq[HOLD]; byte h_item[HOLD]; byte h_id[HOLD]; byte h_prev[HOLD];
byte sb_done; byte sb_log[TOP + 1]; byte sb_item[TOP + 1]; bool b_saved;

bool a_up, b_up;            /* ghosts: each side running (started and compared heads) */
bool a_put_back;            /* ghost: A's storage was put back */
byte wire[TOP + 1];         /* ghost: the first envelope id on the wire at each seq */
bool alarm;                 /* the fork alarm (either side; it stops the channel) */
byte next_id = 1;           /* each encryption its own envelope id */
/* ghosts: the first id B received per seq, and whether it received a second, different
   one, in the history its storage holds (put back with it: once both sides are put
   back to before an envelope, neither holds a trace of it) */
byte b_seen[TOP + 1]; bool b_twice; byte sb_seen[TOP + 1]; bool sb_twice;

#define FREE (net[0].kind == NONE || net[1].kind == NONE || net[2].kind == NONE)

inline put(k, s, i, d, p) {
  /* an envelope's seq is never on the wire with other bytes unless A's storage went back */
  if
  :: k == ENV && wire[s] == 0 -> wire[s] = d
  :: k == ENV && wire[s] != 0 && wire[s] != d -> assert(a_put_back)
  :: else -> skip
  fi;
  if
  :: net[0].kind == NONE -> net[0].kind = k; net[0].seq = s; net[0].item = i; net[0].id = d; net[0].prev = p
  :: net[0].kind != NONE && net[1].kind == NONE ->
     net[1].kind = k; net[1].seq = s; net[1].item = i; net[1].id = d; net[1].prev = p
  :: net[0].kind != NONE && net[1].kind != NONE && net[2].kind == NONE ->
     net[2].kind = k; net[2].seq = s; net[2].item = i; net[2].id = d; net[2].prev = p
  :: else -> skip   /* the network is full: lost */
  fi
}

inline take(want) {
  if
  :: net[0].kind == want -> m.seq = net[0].seq; m.item = net[0].item; m.id = net[0].id; m.prev = net[0].prev; net[0].kind = NONE
  :: net[1].kind == want -> m.seq = net[1].seq; m.item = net[1].item; m.id = net[1].id; m.prev = net[1].prev; net[1].kind = NONE
  :: net[2].kind == want -> m.seq = net[2].seq; m.item = net[2].item; m.id = net[2].id; m.prev = net[2].prev; net[2].kind = NONE
  fi
}

/* A copy of it in flight already (sending another is what the network's duplicates do). */
#define IN_FLIGHT(k, s, d) ((net[0].kind == k && net[0].seq == s && net[0].id == d) || \
                            (net[1].kind == k && net[1].seq == s && net[1].id == d) || \
                            (net[2].kind == k && net[2].seq == s && net[2].id == d))
#define HAS(want) (net[0].kind == want || net[1].kind == want || net[2].kind == want)

/* The heads probe, abstracted to one atomic comparison of both sides' durable state
   (it is MAC-tagged and carries a fresh nonce, so neither an old answer nor anyone
   without the channel key can stand in for it). */
inline compare_heads(s) {
  atomic {
    if
    :: HEADS == 1 ->
       if
       :: b_done > a_sent -> alarm = true    /* the peer holds more of A's chain: A went back */
       :: a_acked > b_done -> alarm = true   /* A holds an ack of more than B holds: B went back */
       :: else -> skip
       fi;
       s = 1;
       do
       :: s <= a_sent && s <= b_done -> if :: a_out[s] != b_log[s] -> alarm = true :: else -> skip fi; s++
       :: else -> break
       od
    :: else -> skip
    fi
  }
}

proctype A() {
  byte crashes, rollbacks, id, seq, s;
  Msg m;
restart:
  atomic { compare_heads(s); a_up = true }
end_a:
  do
  :: alarm -> break
  /* an officer sends the next item: encrypt, persist (write-ahead), transmit */
  :: atomic { !alarm && a_items < ITEMS -> seq = a_sent + 1; id = next_id; next_id++;
       if :: WRITE_AHEAD == 0 -> put(ENV, seq, a_items, id, a_out[seq - 1]) :: else -> skip fi }
     if
     :: crashes < CRASHES -> crashes++; a_up = false; goto restart   /* before it was persisted */
     :: true -> skip
     fi;
     atomic { a_out[seq] = id; a_sent = seq; a_items++;
       if :: WRITE_AHEAD == 1 -> put(ENV, seq, a_items - 1, id, a_out[seq - 1]) :: else -> skip fi }
  /* send again an envelope not yet acknowledged */
  :: atomic { !alarm && a_acked < a_sent && FREE -> s = a_acked + 1;
       do :: s < a_sent -> s++ :: break od;
       if :: !IN_FLIGHT(ENV, s, a_out[s]) -> put(ENV, s, s - 1, a_out[s], a_out[s - 1]) :: else -> skip fi }
  /* an ack: behind (nothing changes), of a seq never sent or of another envelope (fork) */
  :: atomic { !alarm && HAS(ACK) -> take(ACK);
       if
       :: m.seq <= a_acked -> skip
       :: m.seq > a_sent -> alarm = true
       :: m.seq <= a_sent && a_out[m.seq] != m.id -> alarm = true
       :: m.seq <= a_sent && a_out[m.seq] == m.id -> a_acked = m.seq
       fi }
  :: crashes < CRASHES -> crashes++; a_up = false; goto restart
  :: atomic { ROLLBACK_A && !a_saved -> a_saved = true; sa_sent = a_sent; sa_items = a_items; sa_acked = a_acked;
       s = 0; do :: s <= TOP -> sa_out[s] = a_out[s]; s++ :: else -> break od }
  :: a_saved && rollbacks < ROLLBACK_A ->
     atomic { rollbacks++; a_up = false; a_put_back = true; a_sent = sa_sent; a_items = sa_items; a_acked = sa_acked;
       s = 0; do :: s <= TOP -> a_out[s] = sa_out[s]; s++ :: else -> break od }
     goto restart
  od
}

/* B processes what it holds early once the envelope before it is in. */
inline drain_held(h) {
  do
  :: h = 0;
     do :: h < HOLD && h_seq[h] != b_done + 1 -> h++ :: else -> break od;
     if
     :: h < HOLD && h_prev[h] == b_log[b_done] ->
        assert(h_item[h] == b_done);   /* in order, each item once */
        b_done++; b_log[b_done] = h_id[h]; b_item[b_done] = h_item[h]; h_seq[h] = 0
     :: h < HOLD && h_prev[h] != b_log[b_done] -> alarm = true; break
     :: else -> break
     fi
  od
}

inline hold(h) {
  h = 0;
  do :: h < HOLD && h_seq[h] != m.seq -> h++ :: else -> break od;
  if
  :: h == HOLD ->   /* nothing held at its seq: hold it if there is room */
     h = 0;
     do :: h < HOLD && h_seq[h] != 0 -> h++ :: else -> break od;
     if
     :: h < HOLD -> h_seq[h] = m.seq; h_item[h] = m.item; h_id[h] = m.id; h_prev[h] = m.prev
     :: else -> skip
     fi
  :: h < HOLD && h_id[h] != m.id && HELD_FORK == 1 -> alarm = true   /* two authentic envelopes at one seq */
  :: else -> skip   /* the same envelope again */
  fi
}

proctype B() {
  byte crashes, rollbacks, s, h;
  Msg m;
restart:
  atomic { compare_heads(s); b_up = true }
end_b:
  do
  :: alarm -> break
  :: atomic { !alarm && HAS(ENV) -> take(ENV) }
     if
     :: crashes < CRASHES -> crashes++; b_up = false; goto restart   /* before it was persisted */
     :: true -> skip
     fi;
     /* everything it changes is persisted in one step */
     atomic {
       if :: b_seen[m.seq] == 0 -> b_seen[m.seq] = m.id
          :: b_seen[m.seq] != 0 && b_seen[m.seq] != m.id -> b_twice = true
          :: else -> skip fi;
       if
       :: m.seq <= b_done && b_log[m.seq] != m.id -> alarm = true   /* conflicting: it opens, so a fork */
       :: m.seq <= b_done && b_log[m.seq] == m.id -> skip           /* a duplicate */
       :: m.seq == b_done + 1 && m.prev != b_log[b_done] -> alarm = true  /* prev_hash: a fork */
       :: m.seq == b_done + 1 && m.prev == b_log[b_done] ->
          assert(m.item == m.seq - 1);   /* in order, each item once */
          b_done++; b_log[b_done] = m.id; b_item[b_done] = m.item;
          drain_held(h)
       :: m.seq > b_done + 1 -> hold(h)
       fi }
     if
     :: crashes < CRASHES -> crashes++; b_up = false; goto restart   /* persisted, the ack not sent */
     :: true -> skip
     fi;
     atomic { if :: !alarm && !IN_FLIGHT(ACK, b_done, b_log[b_done]) -> put(ACK, b_done, 0, b_log[b_done], 0)
                 :: else -> skip fi }
  :: atomic { ROLLBACK_B && !b_saved -> b_saved = true; sb_done = b_done; sb_twice = b_twice;
       s = 0; do :: s <= TOP -> sb_log[s] = b_log[s]; sb_item[s] = b_item[s]; sb_seen[s] = b_seen[s]; s++
                 :: else -> break od }
  :: b_saved && rollbacks < ROLLBACK_B ->
     atomic { rollbacks++; b_up = false; b_done = sb_done; b_twice = sb_twice;
       s = 0; do :: s <= TOP -> b_log[s] = sb_log[s]; b_item[s] = sb_item[s]; b_seen[s] = sb_seen[s]; s++
                 :: else -> break od;
       h = 0; do :: h < HOLD -> h_seq[h] = 0; h++ :: else -> break od }
     goto restart
  od
}

/* The network loses and duplicates what is in flight (bounded). */
active proctype Net() {
  byte losses, copies, k, q, i, d, p;
end_net:
  do
  :: losses < LOSSES && net[0].kind != NONE -> atomic { losses++; net[0].kind = NONE }
  :: losses < LOSSES && net[1].kind != NONE -> atomic { losses++; net[1].kind = NONE }
  :: losses < LOSSES && net[2].kind != NONE -> atomic { losses++; net[2].kind = NONE }
  :: copies < DUPLICATES && net[0].kind != NONE && FREE ->
     atomic { copies++; k = net[0].kind; q = net[0].seq; i = net[0].item; d = net[0].id;
       p = net[0].prev; put(k, q, i, d, p) }
  od
}

/* Whenever both sides are running, everything sent is acknowledged and nothing stopped
   the channel: every item
   was delivered once and in order, the two transcripts agree, and B never received two
   different envelopes for one seq. */
active proctype Quiet() {
  byte s;
end_quiet:
  do
  :: atomic { !alarm && a_up && b_up && a_items == ITEMS && a_acked == a_sent ->
       compare_heads(s);   /* the next checkpoint or probe */
       assert(alarm || !b_twice);
       assert(alarm || (a_sent == ITEMS && b_done >= ITEMS));
       s = 1;
       do
       :: !alarm && s <= ITEMS -> assert(a_out[s] == b_log[s] && b_item[s] == s - 1); s++
       :: else -> break
       od }
  od
}

init {
  atomic { run A(); run B() }
}
