#include "save.h"

#include "xt.h"  // first: xtables.h brings net/if.h, which must precede linux/if.h

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unordered_map>

#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>


namespace nlkit {
namespace ipt {

namespace {

// One rule as print_rule4/6 needs it; plain data so that the printing loop is plain C.
struct SaveRule {
  const unsigned char* entry;
  const char* chain;
  const char* target_name;  // iptc_get_target's answer
  unsigned long long pcnt, bcnt;
};

const char* mask_to_str(const struct in_addr* mask) {
  static char mask_str[INET_ADDRSTRLEN];
  uint32_t bits, hmask = ntohl(mask->s_addr);
  int i;
  if (mask->s_addr == 0xFFFFFFFFU) {
    sprintf(mask_str, "32");
    return mask_str;
  }
  i = 32;
  bits = 0xFFFFFFFEU;
  while (--i >= 0 && hmask != bits) bits <<= 1;
  if (i >= 0)
    sprintf(mask_str, "%u", i);
  else
    inet_ntop(AF_INET, mask, mask_str, sizeof(mask_str));
  return mask_str;
}

void save_ipv4_addr(char letter, const struct in_addr* addr, const struct in_addr* mask, int invert) {
  char addrbuf[INET_ADDRSTRLEN];
  if (!mask->s_addr && !invert && !addr->s_addr) return;
  printf("%s -%c %s/%s", invert ? " !" : "", letter, inet_ntop(AF_INET, addr, addrbuf, sizeof(addrbuf)),
         mask_to_str(mask));
}

void save_ipv6_addr(char letter, const struct in6_addr* addr, const struct in6_addr* mask, int invert) {
  int l = xtables_ip6mask_to_cidr(mask);
  char addr_str[INET6_ADDRSTRLEN];
  if (!invert && l == 0) return;
  printf("%s -%c %s", invert ? " !" : "", letter, inet_ntop(AF_INET6, addr, addr_str, sizeof(addr_str)));
  if (l == -1)
    printf("/%s", inet_ntop(AF_INET6, mask, addr_str, sizeof(addr_str)));
  else
    printf("/%d", l);
}

void save_iface(char letter, const char* iface, const unsigned char* mask, int invert) {
  if (mask[0] == 0) return;
  printf("%s -%c ", invert ? " !" : "", letter);
  for (unsigned i = 0; i < IFNAMSIZ; i++) {
    if (mask[i] != 0) {
      if (iface[i] != '\0') printf("%c", iface[i]);
    } else {
      if (iface[i - 1] != '\0') printf("+");
      break;
    }
  }
}

void save_rule_details(const char* iniface, const unsigned char* iniface_mask, const char* outiface,
                       const unsigned char* outiface_mask, uint16_t proto, int frag, uint8_t invflags) {
  if (iniface != NULL) save_iface('i', iniface, iniface_mask, invflags & IPT_INV_VIA_IN);
  if (outiface != NULL) save_iface('o', outiface, outiface_mask, invflags & IPT_INV_VIA_OUT);
  if (proto > 0) {
    const char* pname = proto_to_name(proto, 0);
    if (invflags & XT_INV_PROTO) printf(" !");
    if (pname)
      printf(" -p %s", pname);
    else
      printf(" -p %u", proto);
  }
  if (frag) {
    if (invflags & IPT_INV_FRAG) printf(" !");
    printf(" -f");
  }
}

// xshared.c print_match_save; a missing plugin is an error instead of exit(1).
int print_match_save(const struct xt_entry_match* e, const void* ip) {
  const char* name = e->u.user.name;
  const int revision = e->u.user.revision;
  EnsurePlugin(name, XtFamily());
  struct xtables_match* match = xtables_find_match(name, XTF_TRY_LOAD, NULL);
  if (match) {
    struct xtables_match* mt = xtables_find_match_revision(name, XTF_TRY_LOAD, match, revision);
    struct xtables_match* mt2 = mt ? mt : match;
    printf(" -m %s", mt2->alias ? mt2->alias(e) : name);
    if (mt && mt->save)
      mt->save(ip, e);
    else if (match->save)
      printf(" [unsupported revision]");
  } else if (e->u.match_size) {
    xtables_error(OTHER_PROBLEM, "Can't find library for match `%s'", name);
  }
  return 0;
}

void print_rule(int v6, const SaveRule* r, int counters) {
  const unsigned char* e = r->entry;
  const struct xt_entry_target* t;
  uint16_t target_offset;
  uint8_t flags;
  if (counters > 0) printf("[%llu:%llu] ", r->pcnt, r->bcnt);
  printf("-A %s", r->chain);
  if (v6) {
    const struct ip6t_entry* e6 = (const struct ip6t_entry*)e;
    save_ipv6_addr('s', &e6->ipv6.src, &e6->ipv6.smsk, e6->ipv6.invflags & IP6T_INV_SRCIP);
    save_ipv6_addr('d', &e6->ipv6.dst, &e6->ipv6.dmsk, e6->ipv6.invflags & IP6T_INV_DSTIP);
    save_rule_details(e6->ipv6.iniface, e6->ipv6.iniface_mask, e6->ipv6.outiface, e6->ipv6.outiface_mask,
                      e6->ipv6.proto, 0, e6->ipv6.invflags);
    target_offset = e6->target_offset;
    flags = e6->ipv6.flags;
    for (unsigned off = sizeof(struct ip6t_entry); off < target_offset;) {
      const struct xt_entry_match* m = (const struct xt_entry_match*)(e + off);
      print_match_save(m, &e6->ipv6);
      if (m->u.match_size == 0) break;
      off += m->u.match_size;
    }
  } else {
    const struct ipt_entry* e4 = (const struct ipt_entry*)e;
    save_ipv4_addr('s', &e4->ip.src, &e4->ip.smsk, e4->ip.invflags & IPT_INV_SRCIP);
    save_ipv4_addr('d', &e4->ip.dst, &e4->ip.dmsk, e4->ip.invflags & IPT_INV_DSTIP);
    save_rule_details(e4->ip.iniface, e4->ip.iniface_mask, e4->ip.outiface, e4->ip.outiface_mask, e4->ip.proto,
                      e4->ip.flags & IPT_F_FRAG, e4->ip.invflags);
    target_offset = e4->target_offset;
    flags = e4->ip.flags;
    if (target_offset) {
      for (unsigned off = sizeof(struct ipt_entry); off < target_offset;) {
        const struct xt_entry_match* m = (const struct xt_entry_match*)(e + off);
        print_match_save(m, &e4->ip);
        if (m->u.match_size == 0) break;
        off += m->u.match_size;
      }
    }
  }
  const void* ip = e;  // ipt_entry.ip / ip6t_entry.ipv6 are the entries' first members
  t = (const struct xt_entry_target*)(e + target_offset);
  if (t->u.user.name[0]) {
    const char* name = t->u.user.name;
    const int revision = t->u.user.revision;
    EnsurePlugin(name, XtFamily());
    struct xtables_target* target = xtables_find_target(name, XTF_TRY_LOAD);
    if (!target) xtables_error(OTHER_PROBLEM, "Can't find library for target `%s'", name);
    struct xtables_target* tg = xtables_find_target_revision(name, XTF_TRY_LOAD, target, revision);
    struct xtables_target* tg2 = tg ? tg : target;
    printf(" -j %s", tg2->alias ? tg2->alias(t) : r->target_name);
    if (tg && tg->save)
      tg->save(ip, t);
    else if (target->save)
      printf(" [unsupported revision]");
    else if (t->u.target_size != sizeof(struct xt_entry_target))
      xtables_error(OTHER_PROBLEM, "Target `%s' is missing save function", name);
  } else if (r->target_name && *r->target_name != '\0') {
    int isGoto = v6 ? (flags & IP6T_F_GOTO) : (flags & IPT_F_GOTO);
    printf(" -%c %s", isGoto ? 'g' : 'j', r->target_name);
  }
  printf("\n");
}

int PrintGuarded(int v6, const SaveRule* rules, size_t n, int counters, XtJump* jump) {
  XtJump* outer = g_xt_jump;
  g_xt_jump = jump;
  if (setjmp(jump->buf) != 0) {
    g_xt_jump = outer;
    return -1;
  }
  for (size_t i = 0; i < n; i++) print_rule(v6, &rules[i], counters);
  g_xt_jump = outer;
  return 0;
}

const char* VerdictName(int verdict) {
  switch (verdict) {
    case XT_RETURN:
      return "RETURN";
    case -NF_ACCEPT - 1:
      return "ACCEPT";
    case -NF_DROP - 1:
      return "DROP";
    case -NF_QUEUE - 1:
      return "QUEUE";
  }
  return nullptr;
}

}  // namespace

bool PrintTable(Table& t, bool counters, std::string* error) {
  std::vector<Chain*> order = t.Ordered();
  // NUL-terminated copies of the names for the printf-based printers
  std::vector<std::string> names;
  names.reserve(order.size());
  std::unordered_map<const Chain*, const char*> nameOf;
  for (Chain* c : order) {
    names.emplace_back(c->name);
    nameOf[c] = names.back().c_str();
  }
  printf("*%s\n", t.name().c_str());
  for (size_t k = 0; k < order.size(); k++) {
    Chain* c = order[k];
    printf(":%s ", names[k].c_str());
    if (c->hooknum) {
      const char* pol = VerdictName(c->verdict);
      if (!pol) {
        *error = "chain " + names[k] + " has an invalid policy verdict " + std::to_string(c->verdict);
        return false;
      }
      printf("%s [%llu:%llu]\n", pol, (unsigned long long)c->counters.pcnt, (unsigned long long)c->counters.bcnt);
    } else {
      printf("- [0:0]\n");
    }
  }
  std::vector<SaveRule> rules;
  for (size_t k = 0; k < order.size(); k++) {
    Chain* c = order[k];
    for (uint32_t i = c->first; i != kNone; i = t.RuleAt(i).next) {
      const Rule& r = t.RuleAt(i);
      SaveRule s;
      s.entry = r.entry;
      s.chain = names[k].c_str();
      s.pcnt = r.counters.pcnt;
      s.bcnt = r.counters.bcnt;
      switch (r.kind) {
        case RuleKind::Fallthrough:
          s.target_name = "";
          break;
        case RuleKind::Jump: {
          auto it = nameOf.find(r.jump);
          s.target_name = it != nameOf.end() ? it->second : "";
          break;
        }
        case RuleKind::Standard:
          s.target_name = VerdictName(r.verdict);
          if (!s.target_name) {
            *error = "a rule in chain " + names[k] + " has an invalid verdict " + std::to_string(r.verdict);
            return false;
          }
          break;
        case RuleKind::Module: {
          uint16_t to = t.fam().nfproto == NFPROTO_IPV6 ? reinterpret_cast<const struct ip6t_entry*>(r.entry)->target_offset
                                                        : reinterpret_cast<const struct ipt_entry*>(r.entry)->target_offset;
          s.target_name = reinterpret_cast<const struct xt_entry_target*>(r.entry + to)->u.user.name;
          break;
        }
      }
      rules.push_back(s);
    }
  }
  XtJump jump;
  jump.message[0] = '\0';
  if (PrintGuarded(t.fam().nfproto == NFPROTO_IPV6, rules.data(), rules.size(), counters ? 1 : 0, &jump) != 0) {
    *error = jump.message;
    return false;
  }
  printf("COMMIT\n");
  return true;
}

}  // namespace ipt
}  // namespace nlkit
