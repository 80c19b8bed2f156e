package io.jvmm.devices.p9.server;

import io.jvmm.testkit.driver.p9.P9Client;
import io.jvmm.testkit.driver.p9.P9ClientException;
import io.jvmm.testkit.driver.p9.P9Wire;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Every 9P2000.L message against a real directory, with a raw client over the Unix socket, and the errnos. */
class P9ProtocolTest {
    private static final int ENOENT = 2, EBADF = 9, EACCES = 13, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, EINVAL = 22,
            EMFILE = 24, EROFS = 30, ENODATA = 61, EMSGSIZE = 90, ENOTEMPTY = 39, ELOOP = 40, EPERM = 1;

    @TempDir
    Path dir;
    private ServerFixture fixture;
    private Path root;

    private P9Client start(boolean readOnly, SecurityModel model) throws Exception {
        return start(P9ServerConfig.of(root(), readOnly, model));
    }

    private Path root() throws Exception {
        if (root == null) {
            root = Files.createDirectory(dir.resolve("export"));
            Files.writeString(root.resolve("a.txt"), "alpha");
            Files.createDirectory(root.resolve("sub"));
            Files.writeString(root.resolve("sub").resolve("b.txt"), "bravo");
        }
        return root;
    }

    private P9Client start(P9ServerConfig config) throws Exception {
        fixture = new ServerFixture(config, dir);
        return fixture.client();
    }

    @AfterEach
    void stop() {
        if (fixture != null) {
            fixture.close();
        }
    }

    private static int errno(Runnable r) {
        P9ClientException e = assertThrows(P9ClientException.class, r::run);
        return e.errno();
    }

    @Test
    void versionNegotiatesTheSmallerMsizeAndRefusesOtherDialects() throws Exception {
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        assertEquals(512000, c.version(1 << 20), "msize is capped at 512000");
        assertEquals(8192, c.version(8192));
        int tag = c.sendWithTag(P9Wire.version(8192, "9P2000.u"), P9Wire.NOTAG);
        ByteBuffer b = c.await(tag).body();
        b.getInt();
        assertEquals("unknown", P9Wire.string(b));
        c.version(65536);
        c.attach(0, 0);
        assertEquals(EMSGSIZE, c.errno(P9Wire.write(0, 0, new byte[70000])), "a message over msize");
    }

    @Test
    void walkGetattrOpenReadAndThePartialWalk() throws Exception {
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        List<P9Wire.Qid> q = c.walk(0, 1, "sub", "b.txt");
        assertEquals(2, q.size());
        assertTrue(q.get(0).isDir());
        P9Wire.Attr a = c.getattr(1);
        assertEquals(5, a.size());
        assertEquals(Files.getAttribute(root.resolve("sub/b.txt"), "unix:ino"), a.qid().path());
        c.lopen(1, P9Wire.O_RDONLY);
        assertEquals("bravo", new String(c.readAll(1), StandardCharsets.UTF_8));
        assertEquals("avo", new String(c.read(1, 2, 100), StandardCharsets.UTF_8));
        ByteBuffer partial = c.rpc(P9Wire.walk(0, 2, "sub", "nope"));
        assertEquals(1, partial.getShort(), "a walk that fails after the first name returns the qids so far");
        assertEquals(EBADF, c.errno(P9Wire.getattr(2)), "and makes no fid");
        assertEquals(ENOENT, c.errno(P9Wire.walk(0, 2, "nope")));
        assertEquals(EINVAL, c.errno(P9Wire.walk(0, 1, "a.txt")), "newfid in use");
        assertEquals(EBADF, c.errno(P9Wire.walk(77, 3)), "unknown fid");
        c.walk(0, 3);                                     // clone
        assertTrue(c.getattr(3).qid().isDir());
        c.walk(3, 3, "a.txt");                            // newfid == fid
        assertFalse(c.getattr(3).qid().isDir());
        c.clunk(1);
        assertEquals(EBADF, c.errno(P9Wire.clunk(1)));
        assertEquals(EBADF, c.errno(P9Wire.read(3, 0, 10)), "read of a fid not opened");
    }

    @Test
    void createWriteReadTruncateFsyncAndStatfs() throws Exception {
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        c.walk(0, 1);
        c.rpc(P9Wire.lcreate(1, "new.bin", P9Wire.O_RDWR, 0640, 0));
        assertEquals(5, c.write(1, 0, "hello".getBytes()));
        assertEquals(3, c.write(1, 5, "!!!".getBytes()));
        c.rpc(P9Wire.fsync(1, 0));
        c.rpc(P9Wire.fsync(1, 1));
        assertEquals("hello!!!", Files.readString(root.resolve("new.bin")));
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(root.resolve("new.bin"))),
                "the mode asked for, not the server's umask");
        assertEquals("hello!!!", new String(c.read(1, 0, 100)));
        c.rpc(P9Wire.setattr(1, 0x8, 0, 0, 0, 2, 0, 0, 0, 0));
        assertEquals("he", Files.readString(root.resolve("new.bin")));
        c.walk(0, 2);
        assertEquals(EEXIST, c.errno(P9Wire.lcreate(2, "new.bin", P9Wire.O_RDWR, 0600, 0)));
        assertEquals(EINVAL, c.errno(P9Wire.lcreate(2, "../x", P9Wire.O_RDWR, 0600, 0)), "a name with a slash");
        ByteBuffer s = c.rpc(P9Wire.statfs(0));
        s.getInt();
        assertTrue(s.getInt() > 0, "bsize");
    }

    @Test
    void directoriesSymlinksLinksRenamesAndUnlinks() throws Exception {
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        assertTrue(P9Wire.Qid.read(c.rpc(P9Wire.mkdir(0, "dir", 0755, 0))).isDir());
        assertTrue(Files.isDirectory(root.resolve("dir")));
        c.rpc(P9Wire.symlink(0, "ln", "a.txt", 0));
        assertEquals("a.txt", Files.readSymbolicLink(root.resolve("ln")).toString());
        c.walk(0, 1, "ln");
        assertEquals("a.txt", P9Wire.string(c.rpc(P9Wire.readlink(1))));
        assertEquals(ELOOP, c.errno(P9Wire.lopen(1, P9Wire.O_RDONLY)), "a symlink is never followed by lopen");
        c.rpc(P9Wire.symlink(0, "to-secret", "/etc/hostname", 0));
        c.walk(0, 9, "to-secret");
        c.rpc(P9Wire.link(0, 9, "hard-to-link"));
        assertTrue(Files.isSymbolicLink(root.resolve("hard-to-link")), "a hard link to a symlink is the symlink, never its target");
        c.walk(0, 2, "a.txt");
        c.rpc(P9Wire.link(0, 2, "hard"));
        assertEquals(2, c.getattr(2).nlink());
        c.walk(0, 3, "dir");
        c.rpc(P9Wire.rename(2, 3, "moved"));
        assertTrue(Files.exists(root.resolve("dir/moved")));
        c.rpc(P9Wire.renameat(3, "moved", 0, "back"));
        assertEquals("alpha", Files.readString(root.resolve("back")));
        c.rpc(P9Wire.unlinkat(0, "hard", 0));
        assertFalse(Files.exists(root.resolve("hard")));
        assertEquals(ENOTEMPTY, c.errno(P9Wire.unlinkat(0, "sub", 0x200)));
        assertEquals(ENOENT, c.errno(P9Wire.unlinkat(0, "nothing", 0)));
        c.walk(0, 4, "sub", "b.txt");
        c.rpc(P9Wire.remove(4));
        assertFalse(Files.exists(root.resolve("sub/b.txt")));
        assertEquals(EBADF, c.errno(P9Wire.getattr(4)), "remove clunks the fid");
        c.walk(0, 5);
        c.lopen(5, P9Wire.O_RDONLY);
        List<String> names = c.readdirNames(5);
        assertTrue(names.containsAll(List.of("back", "dir", "ln", "sub")), names.toString());
        assertEquals(EBADF, c.errno(P9Wire.write(5, 0, new byte[1])), "a directory is open read-only");
    }

    @Test
    void setattrChangesModeOwnerAndTimes() throws Exception {
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        c.walk(0, 1, "a.txt");
        c.rpc(P9Wire.setattr(1, 0x1, 0604, 0, 0, 0, 0, 0, 0, 0));
        assertEquals("rw----r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(root.resolve("a.txt"))));
        c.rpc(P9Wire.setattr(1, 0x2 | 0x4, 0, 1234, 5678, 0, 0, 0, 0, 0));
        assertEquals(1234, Files.getAttribute(root.resolve("a.txt"), "unix:uid"));
        assertEquals(5678, Files.getAttribute(root.resolve("a.txt"), "unix:gid"));
        c.rpc(P9Wire.setattr(1, 0x10 | 0x20 | 0x80 | 0x100, 0, 0, 0, 0, 1_000_000, 5, 2_000_000, 7));
        assertEquals(2_000_000, c.getattr(1).mtimeSec());
    }

    @Test
    void anOpenedThenUnlinkedFileStaysUsableThroughItsFid() throws Exception {
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        c.walk(0, 1);
        c.rpc(P9Wire.lcreate(1, "tmp", P9Wire.O_RDWR, 0600, 0));
        c.write(1, 0, "0123456789".getBytes());
        c.rpc(P9Wire.unlinkat(0, "tmp", 0));
        assertFalse(Files.exists(root.resolve("tmp")));
        assertEquals(10, c.getattr(1).size(), "fstat");
        assertEquals(0, c.getattr(1).nlink());
        assertEquals("345", new String(c.read(1, 3, 3)));
        c.write(1, 10, "ab".getBytes());
        c.rpc(P9Wire.setattr(1, 0x8, 0, 0, 0, 4, 0, 0, 0, 0));
        assertEquals(4, c.getattr(1).size(), "ftruncate");
        c.clunk(1);
    }

    @Test
    void nothingEscapesTheExport() throws Exception {
        Path outside = Files.writeString(dir.resolve("secret"), "outside");
        root();
        Files.createSymbolicLink(root.resolve("abs"), outside);
        Files.createSymbolicLink(root.resolve("rel"), Path.of("../secret"));
        Files.createSymbolicLink(root.resolve("dirlink"), dir);
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        c.walk(0, 1, "..", "..", "..");
        assertEquals(fixture.server.qidPath(fixture.server.rootDev(), (long) Files.getAttribute(root, "unix:ino")),
                c.getattr(1).qid().path(), "'..' at the root is the root");
        assertEquals(1, c.rpc(P9Wire.walk(0, 2, "..", "secret")).getShort(), "the walk stops after '..'");
        assertEquals(EBADF, c.errno(P9Wire.getattr(2)));
        c.walk(0, 3, "abs");
        assertEquals(ELOOP, c.errno(P9Wire.lopen(3, P9Wire.O_RDONLY)), "an absolute symlink is not followed");
        c.walk(0, 4, "rel");
        assertEquals(ELOOP, c.errno(P9Wire.lopen(4, P9Wire.O_RDONLY)));
        assertEquals(1, c.rpc(P9Wire.walk(0, 5, "dirlink", "secret")).getShort(), "a symlink to a directory is not entered");
        assertEquals(EBADF, c.errno(P9Wire.getattr(5)));
        assertEquals(ENOENT, c.errno(P9Wire.walk(0, 6, "/etc")), "a name with a slash");
        c.walk(0, 7, "sub");
        c.walk(7, 8, "..", "..", "..");
        assertTrue(c.getattr(8).qid().isDir());
        assertEquals(ENOENT, c.errno(P9Wire.walk(8, 9, "secret")), "'..' above sub stops at the root");
        assertEquals("outside", Files.readString(outside));
    }

    @Test
    void deviceNodesAreNeverOpened() throws Exception {
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        c.rpc(P9Wire.mknod(0, "mem", 0020000 | 0600, 1, 1, 0));   // what /dev/mem is
        assertTrue(Files.exists(root.resolve("mem"), LinkOption.NOFOLLOW_LINKS));
        c.walk(0, 1, "mem");
        assertEquals(0020000, c.getattr(1).mode() & 0170000);
        assertEquals(EPERM, c.errno(P9Wire.lopen(1, P9Wire.O_RDONLY)));
        assertEquals(EPERM, c.errno(P9Wire.setattr(1, 0x8, 0, 0, 0, 0, 0, 0, 0, 0)), "nor truncated");
        c.rpc(P9Wire.mknod(0, "fifo", 0010000 | 0600, 0, 0, 0));
        c.walk(0, 2, "fifo");
        c.lopen(2, P9Wire.O_RDONLY);
        assertEquals(0, c.read(2, 0, 10).length, "a FIFO without writer does not hold a worker");
    }

    @Test
    void readOnlyExportsRefuseEveryChange() throws Exception {
        P9Client c = start(true, SecurityModel.PASSTHROUGH);
        c.walk(0, 1, "a.txt");
        assertEquals(EROFS, c.errno(P9Wire.lopen(1, P9Wire.O_RDWR)));
        assertEquals(EROFS, c.errno(P9Wire.mkdir(0, "d", 0755, 0)));
        assertEquals(EROFS, c.errno(P9Wire.unlinkat(0, "a.txt", 0)));
        assertEquals(EROFS, c.errno(P9Wire.setattr(1, 0x1, 0777, 0, 0, 0, 0, 0, 0, 0)));
        assertEquals(EROFS, c.errno(P9Wire.xattrcreate(1, "user.x", 1, 0)));
        c.lopen(1, P9Wire.O_RDONLY);
        assertEquals("alpha", new String(c.readAll(1)));
        assertEquals("alpha", Files.readString(root.resolve("a.txt")));
    }

    @Test
    void xattrsAreRealAndListed() throws Exception {
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        c.walk(0, 1, "a.txt");
        c.rpc(P9Wire.xattrcreate(1, "user.colour", 4, 0));
        c.write(1, 0, "blue".getBytes());
        c.clunk(1);
        assertEquals("blue", new String((byte[]) Files.getAttribute(root.resolve("a.txt"), "user:colour")));
        c.walk(0, 2, "a.txt");
        assertEquals(4, c.rpc(P9Wire.xattrwalk(2, 3, "user.colour")).getLong());
        assertEquals("blue", new String(c.read(3, 0, 100)));
        c.clunk(3);
        long size = c.rpc(P9Wire.xattrwalk(2, 4, "")).getLong();
        assertTrue(new String(c.read(4, 0, (int) size)).contains("user.colour"));
        c.clunk(4);
        assertEquals(ENODATA, c.errno(P9Wire.xattrwalk(2, 5, "user.none")));
        c.walk(0, 6, "a.txt");
        c.rpc(P9Wire.xattrcreate(6, "user.colour", 0, 2));   // size 0: remove
        c.clunk(6);
        assertEquals(ENODATA, c.errno(P9Wire.xattrwalk(2, 7, "user.colour")));
    }

    @Test
    void ofdLocksConflictBetweenClientsAndSurviveAnotherFidsClunk() throws Exception {
        P9Client a = start(false, SecurityModel.PASSTHROUGH);
        P9Client b = fixture.client();
        a.walk(0, 1, "a.txt");
        a.lopen(1, P9Wire.O_RDWR);
        a.walk(0, 2, "a.txt");
        a.lopen(2, P9Wire.O_RDWR);
        b.walk(0, 1, "a.txt");
        b.lopen(1, P9Wire.O_RDWR);
        assertEquals(0, a.rpc(P9Wire.lock(1, 1, 0, 0)).get(), "a takes a write lock");
        assertEquals(1, b.rpc(P9Wire.lock(1, 1, 0, 0)).get(), "b is blocked");
        ByteBuffer g = b.rpc(P9Wire.getlock(1, 1, 0, 0));
        assertEquals(1, g.get(), "getlock names the write lock");
        a.clunk(2);
        assertEquals(1, b.rpc(P9Wire.lock(1, 1, 0, 0)).get(), "closing another fid of a does not drop a's lock");
        assertEquals(0, a.rpc(P9Wire.lock(1, 2, 0, 0)).get(), "unlock");
        assertEquals(0, b.rpc(P9Wire.lock(1, 1, 0, 0)).get(), "now b gets it");
    }

    @Test
    void mappedXattrKeepsOwnershipInXattrsAsQemuDoes() throws Exception {
        P9Client c = start(false, SecurityModel.MAPPED_XATTR);
        c.walk(0, 1);
        c.rpc(P9Wire.lcreate(1, "m", P9Wire.O_RDWR, 0644, 777));
        Path m = root.resolve("m");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(m)), "the host file is the server's, 0600");
        ByteBuffer mode = ByteBuffer.wrap((byte[]) Files.getAttribute(m, "user:virtfs.mode")).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        assertEquals(0100644, mode.getInt());
        c.walk(0, 2, "m");
        P9Wire.Attr a = c.getattr(2);
        assertEquals(0100644, a.mode());
        assertEquals(777, a.gid());
        c.rpc(P9Wire.setattr(2, 0x1 | 0x2, 0600, 4321, 0, 0, 0, 0, 0, 0));
        assertEquals(4321, c.getattr(2).uid());
        assertEquals(0100600, c.getattr(2).mode());
        c.rpc(P9Wire.mknod(0, "dev", 0020000 | 0600, 1, 1, 0));
        assertTrue(Files.isRegularFile(root.resolve("dev")), "no device node is made on the host");
        c.walk(0, 3, "dev");
        assertEquals(0020000, c.getattr(3).mode() & 0170000);
        c.rpc(P9Wire.symlink(0, "sl", "/etc/passwd", 0));
        assertTrue(Files.isRegularFile(root.resolve("sl"), LinkOption.NOFOLLOW_LINKS), "a symlink is a file holding the target");
        c.walk(0, 4, "sl");
        assertEquals("/etc/passwd", P9Wire.string(c.rpc(P9Wire.readlink(4))));
        long size = c.rpc(P9Wire.xattrwalk(2, 5, "")).getLong();
        assertFalse(new String(c.read(5, 0, (int) Math.max(size, 1))).contains("virtfs"), "user.virtfs.* is hidden");
        assertEquals(ENODATA, c.errno(P9Wire.xattrwalk(2, 6, "user.virtfs.uid")));
    }

    @Test
    void fidLimitIsEmfileNotACrash() throws Exception {
        P9Client c = start(P9ServerConfig.of(root(), false, SecurityModel.PASSTHROUGH).withLimits(4, 64));
        c.walk(0, 1);
        c.walk(0, 2);
        c.walk(0, 3);
        assertEquals(EMFILE, c.errno(P9Wire.walk(0, 4)));
        c.clunk(3);
        c.walk(0, 4);
    }

    @Test
    void malformedMessagesGetErrorsAndTheSessionGoesOn() throws Exception {
        P9Client c = start(false, SecurityModel.PASSTHROUGH);
        assertEquals(71, c.errno(P9Wire.message(P9Wire.TWALK).u32(0).build()), "EPROTO for a truncated Twalk");
        assertEquals(71, c.errno(P9Wire.message(P9Wire.TWALK).u32(0).u32(1).u16(1).u16(50).build()), "a string past the end");
        assertEquals(95, c.errno(P9Wire.message(124).u32(0).build()), "9P2000's Tstat is not served");
        assertEquals(2, c.errno(P9Wire.message(P9Wire.TAUTH).u32(9).str("").str("").u32(0).build()), "no authentication");
        c.walk(0, 1, "a.txt");
    }

    @Test
    void aSecondClientHasItsOwnFidsAndClosingItClunksThem() throws Exception {
        P9Client a = start(false, SecurityModel.PASSTHROUGH);
        P9Client b = fixture.client();
        a.walk(0, 1, "a.txt");
        b.walk(0, 1, "sub");
        assertFalse(a.getattr(1).qid().isDir());
        assertTrue(b.getattr(1).qid().isDir());
        assertEquals(4, fixture.server.metrics().fidsHeld());
        b.close();
        io.jvmm.chardev.Await.until(() -> fixture.server.metrics().fidsHeld() == 2, "b's fids clunked when it left");
    }
}
