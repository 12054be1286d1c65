// Where chunk replicas go. Pure functions of the live chunkservers, so that
// every master (leader or standby) computes the same answer.
//
// Copysets (Cidon et al., "Copysets", USENIX ATC 2013): instead of spreading
// each chunk over any three servers, chunks go only to a small set of
// replica groups. Random placement makes almost every triple of servers hold
// some chunk, so any three failing together lose data; with copysets only
// the listed triples do. The scatter width S bounds how many other servers
// each server shares chunks with (its recovery sources and targets).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "storage/common/metadata.h"

namespace tg::storage {

using Copyset = std::vector<std::string>;  // server ids

// ceil(S / (R - 1)) permutations of the servers (sorted by id, shuffled with
// a fixed seed), each cut into consecutive groups of `replicas` (the last
// wraps around, so every server is in one). Groups that
// would put two replicas on one host are dropped; so are groups sharing a
// rack when the servers span at least `replicas` racks.
std::vector<Copyset> BuildCopysets(std::vector<ChunkserverInfo> servers, int replicas,
                                   int scatter_width);

// The copyset for a new chunk: the one whose servers hold the fewest chunks
// (`load`: chunks per server id, counting earlier choices). Empty if none.
Copyset PickCopyset(const std::vector<Copyset>& copysets,
                    const std::map<std::string, uint64_t>& load);

// A server to add to a chunk that lost a replica: preferably one that
// completes a copyset with the current members, else the least loaded live
// server on a host (and, where possible, a rack) none of the members use.
// Empty if there is none.
std::string PickRecoveryTarget(const std::vector<Copyset>& copysets,
                               const std::vector<ChunkserverInfo>& live,
                               const std::vector<std::string>& members,
                               const std::map<std::string, uint64_t>& load);

}  // namespace tg::storage
