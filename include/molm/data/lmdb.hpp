// A thin RAII layer over LMDB (liblmdb): an environment, transactions, get/put and a key scan, with
// every failure turned into molm::error naming the database and the operation.
//
//   auto env = data::LmdbEnv::open("cache.lmdb", {});               // one file, created if missing
//   { auto txn = env.begin(/*write=*/true); txn.put("k", "v"); txn.commit(); }
//   auto txn = env.begin(false); std::optional<std::string_view> v = txn.get("k");
//
// Why LMDB: a single writer and any number of readers (other threads or processes) at once, each
// reader seeing a consistent snapshot; a transaction is all-or-nothing, so a killed writer loses at
// most its uncommitted transaction and never leaves a half-written record. Databases are single
// files (MDB_NOSUBDIR), as the 3D-MoIT datasets are. Values returned by get() point into the map
// and stay valid only while their transaction lives.
#pragma once

#include "molm/core/error.hpp"

#include <lmdb.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace molm::data {

struct LmdbOptions {
  bool read_only = false;
  /// Readers of a file nobody writes (3D-MoIT releases): no lock file, as the Python side opens them.
  bool no_lock = false;
  /// The largest the file may grow to. Address space only: the file grows as data is written.
  std::size_t map_size = std::size_t{64} << 30;
};

class LmdbTxn;

class LmdbEnv {
 public:
  static LmdbEnv open(const std::filesystem::path& path, const LmdbOptions& options) {
    MDB_env* env = nullptr;
    check(mdb_env_create(&env), path, "mdb_env_create");
    std::shared_ptr<MDB_env> owner(env, [](MDB_env* e) { mdb_env_close(e); });
    check(mdb_env_set_mapsize(env, options.map_size), path, "mdb_env_set_mapsize");
    // MDB_NOTLS: read transactions are not tied to a thread, so worker threads can share one env.
    unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
    if (options.read_only) flags |= MDB_RDONLY;
    if (options.no_lock) flags |= MDB_NOLOCK;
    check(mdb_env_open(env, path.c_str(), flags, 0644), path, "open");
    return LmdbEnv(std::move(owner), path);
  }

  /// A read (write = false) or write transaction. One write transaction at a time per file.
  LmdbTxn begin(bool write) const;

  const std::filesystem::path& path() const { return path_; }
  MDB_env* handle() const { return env_.get(); }

  static void check(int rc, const std::filesystem::path& path, std::string_view what) {
    if (rc == MDB_SUCCESS) return;
    MOLM_THROW("lmdb", "{}: {} failed: {}{}", path.string(), what, mdb_strerror(rc),
               rc == MDB_MAP_FULL ? " (raise LmdbOptions::map_size)" : "");
  }

 private:
  LmdbEnv(std::shared_ptr<MDB_env> env, std::filesystem::path path) : env_(std::move(env)), path_(std::move(path)) {}
  std::shared_ptr<MDB_env> env_;
  std::filesystem::path path_;
};

/// A transaction on the unnamed (main) database. Aborted on destruction unless committed.
class LmdbTxn {
 public:
  LmdbTxn(const LmdbEnv& env, bool write) : env_(env), write_(write) {
    LmdbEnv::check(mdb_txn_begin(env.handle(), nullptr, write ? 0 : MDB_RDONLY, &txn_), env.path(), "mdb_txn_begin");
    const int rc = mdb_dbi_open(txn_, nullptr, 0, &dbi_);
    if (rc != MDB_SUCCESS) {
      mdb_txn_abort(txn_);
      LmdbEnv::check(rc, env.path(), "mdb_dbi_open");
    }
  }
  LmdbTxn(const LmdbTxn&) = delete;
  LmdbTxn& operator=(const LmdbTxn&) = delete;
  LmdbTxn(LmdbTxn&& o) noexcept : env_(o.env_), txn_(std::exchange(o.txn_, nullptr)), dbi_(o.dbi_), write_(o.write_) {}
  ~LmdbTxn() {
    if (txn_) mdb_txn_abort(txn_);
  }

  /// The value under `key`, or nullopt. The view is valid until this transaction ends.
  std::optional<std::string_view> get(std::string_view key) const {
    MDB_val k = val(key), v{};
    const int rc = mdb_get(live(), dbi_, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    LmdbEnv::check(rc, env_.path(), "get");
    return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
  }

  void put(std::string_view key, std::string_view value) {
    MOLM_CHECK(write_, "lmdb", "{}: put in a read-only transaction", env_.path().string());
    MOLM_CHECK(!key.empty() && key.size() <= max_key_size(), "lmdb", "{}: key of {} bytes (LMDB allows 1 to {})",
               env_.path().string(), key.size(), max_key_size());
    MDB_val k = val(key), v = val(value);
    LmdbEnv::check(mdb_put(live(), dbi_, &k, &v, 0), env_.path(), "put");
  }

  /// Every (key, value) in key order; `visit` returns false to stop.
  void scan(const std::function<bool(std::string_view, std::string_view)>& visit) const {
    MDB_cursor* cursor = nullptr;
    LmdbEnv::check(mdb_cursor_open(live(), dbi_, &cursor), env_.path(), "mdb_cursor_open");
    std::unique_ptr<MDB_cursor, void (*)(MDB_cursor*)> guard(cursor, mdb_cursor_close);
    MDB_val k{}, v{};
    for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc != MDB_NOTFOUND;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      LmdbEnv::check(rc, env_.path(), "cursor");
      if (!visit({static_cast<const char*>(k.mv_data), k.mv_size}, {static_cast<const char*>(v.mv_data), v.mv_size}))
        break;
    }
  }

  std::size_t size() const {
    MDB_stat st{};
    LmdbEnv::check(mdb_stat(live(), dbi_, &st), env_.path(), "mdb_stat");
    return st.ms_entries;
  }

  /// Make the writes durable and visible to new readers; the transaction ends.
  void commit() {
    const int rc = mdb_txn_commit(live());
    txn_ = nullptr;  // committed or not, LMDB has freed it
    LmdbEnv::check(rc, env_.path(), "commit");
  }

  std::size_t max_key_size() const { return static_cast<std::size_t>(mdb_env_get_maxkeysize(env_.handle())); }

 private:
  static MDB_val val(std::string_view s) { return {s.size(), const_cast<char*>(s.data())}; }
  MDB_txn* live() const {
    MOLM_CHECK(txn_, "lmdb", "{}: the transaction has ended", env_.path().string());
    return txn_;
  }

  LmdbEnv env_;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
  bool write_ = false;
};

inline LmdbTxn LmdbEnv::begin(bool write) const { return LmdbTxn(*this, write); }

}  // namespace molm::data
